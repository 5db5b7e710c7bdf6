"""Rotating ATENDE_SECRET_KEY as docs/operations.md says, on the real processes, with webhooks
flowing the whole time; ``atende secrets reencrypt``; and each command asking only for the
settings it uses (``atende migrate`` with nothing but the database URL)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest_asyncio
from pydantic import SecretStr

from services.cli.admin import apply_file
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.models import InboundMessage
from tests.fixtures.servers import PostgresHandle, free_port, scratch_database
from tests.fixtures.tenant_files import renamed

from .conftest import (
    SECRET_KEY,
    TENANT,
    Proc,
    Stack,
    answer_for,
    baileys_text,
    eventually,
    run_atende,
)
from .conftest import tenant_yaml as stack_tenant_yaml

NEW_KEY = "e2e-rotated-platform-key-fedcba9876543210"
WEAK_KEY_ERROR = (
    "error: ATENDE_SECRET_KEY must be set to at least 32 random characters when "
    "ATENDE_ENVIRONMENT=production"
)


@pytest_asyncio.fixture(loop_scope="session")
async def empty_database(postgres: PostgresHandle) -> AsyncIterator[str]:
    async with scratch_database(postgres, "atende_settings") as url:
        yield url


async def test_migrate_runs_with_only_the_database_url_and_servers_refuse_a_weak_key(
    empty_database: str,
) -> None:
    """What the chart's migration hook Job has: ATENDE_ENVIRONMENT=production and the database
    URL. The commands that serve with the key refuse to start without a real one, in one line."""
    minimal = {
        "PATH": os.environ["PATH"],
        "ATENDE_ENVIRONMENT": "production",
        "ATENDE_DATABASE_URL": empty_database,
    }
    code, out, err = await run_atende(minimal, "migrate", "upgrade")
    assert code == 0, err
    assert out.startswith("database at ")
    assert out.endswith(" (head)\n")
    code, out, err = await run_atende(minimal, "migrate", "current")
    assert (code, err) == (0, "")

    commands = (["api", "--port", str(free_port())], ["worker"], ["operator"])
    envs = (minimal, minimal | {"ATENDE_SECRET_KEY": "too-short"})
    answers = await asyncio.gather(
        *(run_atende(env, *c, within=60) for env in envs for c in commands)
    )
    for code, out, err in answers:
        assert (code, err.strip()) == (1, WEAK_KEY_ERROR), (out, err)


def _settings(database_url: str, redis_url: str, key: str, *previous: str) -> Settings:
    return Settings(
        environment="production",
        database_url=database_url,
        redis_url=redis_url,
        secret_key=SecretStr(key),
        previous_secret_keys=[SecretStr(p) for p in previous],
    )


def _tenant_file(name: str) -> str:
    """The stack's tenant under another name; its Whaticket is never called here."""
    return renamed(stack_tenant_yaml("https://whaticket.example"), TENANT, name)


async def test_reencrypt_rewrites_what_old_keys_hold_and_names_what_no_key_opens(
    clean_db: SessionMaker, database_url: str, redis_url: str
) -> None:
    old = _settings(database_url, redis_url, SECRET_KEY)
    rotated = _settings(database_url, redis_url, NEW_KEY, SECRET_KEY)
    await apply_file(old, _tenant_file("alpha"))
    await apply_file(rotated, _tenant_file("bravo"))
    env = {
        "PATH": os.environ["PATH"],
        "ATENDE_ENVIRONMENT": "production",
        "ATENDE_DATABASE_URL": database_url,
        "ATENDE_SECRET_KEY": NEW_KEY,
        "ATENDE_PREVIOUS_SECRET_KEYS": json.dumps([SECRET_KEY]),
    }
    assert await run_atende(env, "secrets", "reencrypt") == (
        0,
        "1 rewritten, 1 already current\n",
        "",
    )
    assert await run_atende(env, "secrets", "reencrypt") == (
        0,
        "0 rewritten, 2 already current\n",
        "",
    )

    # The old key dropped, and a tenant stored under a key nobody kept.
    env.pop("ATENDE_PREVIOUS_SECRET_KEYS")
    unknown = _settings(database_url, redis_url, "a-key-nobody-kept-0123456789abcdef")
    await apply_file(unknown, _tenant_file("charlie"))
    code, out, err = await run_atende(env, "secrets", "reencrypt")
    assert (code, out) == (1, "0 rewritten, 2 already current\n")
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ")
    assert "charlie" in err
    assert "Traceback" not in err
    assert "alpha" not in err
    assert "bravo" not in err


@dataclass
class Traffic:
    """Webhooks posted without pause to whichever api pods are "behind the Service"."""

    stack: Stack
    targets: list[str]
    answers: list[tuple[str, int, str]] = field(default_factory=list)
    phone_prefix: str = "5511980"

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            index = 0
            while not stop.is_set():
                target = self.targets[index % len(self.targets)]
                msg_id = f"ROT-{index:04d}"
                payload = baileys_text(msg_id, f"mensagem {index}", phone=self.phone(index))
                response = await client.post(target + self.stack.hook_path(), json=payload)
                self.answers.append((msg_id, response.status_code, response.text))
                index += 1
                await asyncio.sleep(0.05)

    def phone(self, index: int) -> str:
        return f"{self.phone_prefix}{index % 20:04d}"


async def _start_api(stack: Stack, **env: str) -> tuple[Proc, str]:
    port = free_port()
    proc = stack.spawn("api", ["api", "--port", str(port)], **env)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        assert proc.returncode is None, f"{proc.name} exited early:\n{proc.tail()}"
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                return (await client.get(url + "/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, within=30, what=f"{proc.name} ready")
    return proc, url


async def _roll(stack: Stack, traffic: Traffic, old: list[Proc], **env: str) -> list[Proc]:
    """A rolling update: the new api and worker up and ready, the new api behind the Service,
    then the old pods taken out and stopped gracefully."""
    worker = stack.start_worker(**env)
    api, url = await _start_api(stack, **env)
    await stack.wait_worker_ready(worker)
    traffic.targets[:] = [*traffic.targets, url]
    await asyncio.sleep(0.5)  # both generations serve for a moment
    traffic.targets[:] = [url]
    await asyncio.sleep(0.3)  # the endpoints controller has taken the old pods out
    # Each old pod gets its grace period, all at once.
    await asyncio.gather(*(asyncio.to_thread(proc.terminate, 25) for proc in old))
    return [api, worker]


async def test_rotating_the_key_as_documented_loses_no_webhook(stack: Stack) -> None:
    """docs/operations.md, "Rotating ATENDE_SECRET_KEY", step by step: (1) the new key as
    ATENDE_SECRET_KEY and the old one in ATENDE_PREVIOUS_SECRET_KEYS, pods rolled; (2) `atende
    secrets reencrypt`; (3) the old key dropped, pods rolled again. Webhooks never stop: every
    one is answered 200 and stored, and replies keep going out (the worker reads the Whaticket
    token under whichever key holds it)."""
    assert stack.api is not None
    assert stack.worker is not None
    traffic = Traffic(stack, [stack.api_url])
    stop = asyncio.Event()
    flowing = asyncio.create_task(traffic.run(stop))
    try:
        await asyncio.sleep(1.0)
        # 1. New key current, old key still accepted.
        stack.env.update(
            ATENDE_SECRET_KEY=NEW_KEY, ATENDE_PREVIOUS_SECRET_KEYS=json.dumps([SECRET_KEY])
        )
        pods = await _roll(stack, traffic, [stack.api, stack.worker])
        await asyncio.sleep(1.0)
        # 2. Everything stored moves to the new key.
        code, out, err = await stack.run_cli("secrets", "reencrypt")
        assert (code, out, err) == (0, "1 rewritten, 0 already current\n", "")
        await asyncio.sleep(1.0)
        # 3. The old key dropped, pods rolled again.
        stack.env.pop("ATENDE_PREVIOUS_SECRET_KEYS")
        pods = await _roll(stack, traffic, pods)
        await asyncio.sleep(1.5)
    finally:
        stop.set()
        await flowing

    # Applying the same tenant again under the new key alone: nothing to rewrite.
    path = stack.tmp / "tenant.yaml"
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert (code, out.split()[1]) == (0, "unchanged"), (out, err)

    refused = [(m, s, body) for m, s, body in traffic.answers if s != 200]
    assert refused == []
    outcomes = {json.loads(body)["status"] for _, _, body in traffic.answers}
    assert outcomes <= {"accepted", "spooled"}, outcomes
    sent_ids = {m for m, _, _ in traffic.answers}
    assert len(sent_ids) > 60, len(sent_ids)

    async def all_stored() -> set[str]:
        rows = await stack.rows(InboundMessage)
        stored = {row.provider_msg_id for row in rows}
        return stored if sent_ids <= stored else set()

    await eventually(all_stored, within=20, what="every answered webhook stored")
    # A customer writing now, with the old key gone everywhere, gets the answer.
    fresh = "5511981000000"
    async with httpx.AsyncClient(timeout=10.0) as client:
        posted = await client.post(
            traffic.targets[0] + stack.hook_path(), json=baileys_text("ROT-LAST", "oi", fresh)
        )
    assert posted.json() == {"status": "accepted"}
    [reply] = await stack.wait_sent(1, number=fresh, within=20)
    assert reply["text"] == answer_for("oi")
