"""Whatever keeps a webhook out of Postgres, the sender is answered 200 and the message arrives
later: a real fault inside Postgres (not only an outage), credentials no key opens, Redis and
Postgres down together (this pod's disk, then Redis), a replayer that died mid-record."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import text

from services.api import main as api_main
from services.cli.admin import apply_file
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.inbound.spool import REPLAYERS, SpooledWebhook
from tests.api.test_webhook import spool_drained, spool_text, stored
from tests.api.webhook_app import TENANT, TENANT_YAML, baileys, make_settings, running_app
from tests.fixtures.servers import FaultProxy, PostgresHandle, postgres_behind_proxy

FAULT = [
    """CREATE FUNCTION atende_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'injected fault'; END $$""",
    """CREATE TRIGGER atende_test_fault BEFORE INSERT ON inbound_messages
    FOR EACH ROW EXECUTE FUNCTION atende_test_fault()""",
]
NO_FAULT = ["DROP FUNCTION IF EXISTS atende_test_fault() CASCADE"]


@pytest.fixture(autouse=True)
def fast_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_main, "SPOOL_REPLAY_SECONDS", 0.25)


async def execute(sessionmaker: SessionMaker, statements: list[str]) -> None:
    async with sessionmaker() as session:
        for statement in statements:
            await session.execute(text(statement))
        await session.commit()


async def redis_call(client: aioredis.Redis, *command: str | bytes | int) -> Any:
    """One raw command (redis-py types its list and set commands for two clients at once)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.execute_command(*command)
        (reply,) = await pipe.execute()
    return reply


def disk_text(directory: Path) -> str:
    """What this pod's disk spool holds, whatever the replayer is doing to its files."""
    texts = []
    for path in directory.glob("*"):
        with contextlib.suppress(FileNotFoundError):
            texts.append(path.read_text())
    return "".join(texts)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, redis_url, tmp_path)


def replay_failures() -> float:
    return REGISTRY.get_sample_value("atende_spool_replay_failures_total") or 0.0


async def test_a_database_error_while_storing_is_spooled_not_a_500(
    clean_db: SessionMaker, redis_client: aioredis.Redis, settings: Settings
) -> None:
    await apply_file(settings, TENANT_YAML)
    await execute(clean_db, FAULT)  # every insert into inbound_messages fails
    try:
        async with running_app(settings) as app:
            failed_before = replay_failures()
            response = await app.post(baileys("MSG-FAULT", "chegou durante o defeito"))
            assert (response.status_code, response.json()) == (200, {"status": "spooled"})
            # The replayer keeps failing on it: counted, and the record is kept, never dropped.
            for _ in range(100):
                if replay_failures() > failed_before:
                    break
                await asyncio.sleep(0.05)
            assert replay_failures() > failed_before
            assert await app.state.spool.pending() == 1
            assert await stored(clean_db) == []

            await execute(clean_db, NO_FAULT)
            await spool_drained(app.state.spool)
    finally:
        await execute(clean_db, NO_FAULT)
    rows = await stored(clean_db)
    assert [(r["provider_msg_id"], r["text"]) for r in rows] == [
        ("MSG-FAULT", "chegou durante o defeito")
    ]


async def test_credentials_no_key_opens_are_spooled_until_the_tenant_is_applied_again(
    clean_db: SessionMaker, redis_client: aioredis.Redis, settings: Settings
) -> None:
    """ATENDE_SECRET_KEY replaced without keeping the old key: the tenant cannot be loaded.
    Its messages wait in the spool; re-applying the same file stores its credentials under the
    new key (not "unchanged"), and they arrive."""
    old = settings.model_copy(update={"secret_key": SecretStr("a-key-dropped-since-0123456789")})
    await apply_file(old, TENANT_YAML)
    async with running_app(settings) as app:
        response = await app.post(baileys("MSG-NOKEY"))
        assert (response.status_code, response.json()) == (200, {"status": "spooled"})
        await asyncio.sleep(0.6)
        assert await app.state.spool.pending() == 1

        (result,) = await apply_file(settings, TENANT_YAML)
        assert result.outcome == "updated"
        await spool_drained(app.state.spool)
    assert [r["provider_msg_id"] for r in await stored(clean_db)] == ["MSG-NOKEY"]


@pytest.fixture
def redis_proxy(redis_url: str) -> Iterator[tuple[FaultProxy, str]]:
    parts = urlsplit(redis_url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path}"


async def test_with_redis_down_too_the_pod_disk_holds_it_until_redis_is_back(
    postgres: PostgresHandle,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_proxy: tuple[FaultProxy, str],
    tmp_path: Path,
) -> None:
    redis_faults, proxied_redis = redis_proxy
    with postgres_behind_proxy(postgres, database_url) as (pg_faults, proxied_pg):
        settings = make_settings(proxied_pg, proxied_redis, tmp_path, tenant_cache_seconds=60)
        await apply_file(settings, TENANT_YAML)
        async with running_app(settings) as app:
            assert (await app.post(baileys("MSG-WARM"))).json() == {"status": "accepted"}
            pg_faults.reset()
            redis_faults.reset()
            response = await app.post(baileys("MSG-DISK", "só no disco"))
            assert (response.status_code, response.json()) == (200, {"status": "spooled"})
            ready = await app.client.get("/readyz")
            # Still ready (turning webhooks away would lose them), and saying what is at risk.
            assert ready.status_code == 200
            assert ready.json()["checks"]["spool"]["local_records"] == 1
            assert REGISTRY.get_sample_value("atende_spool_files") == 1
            assert "MSG-DISK" in disk_text(tmp_path / "spool")

            redis_faults.restore()  # Postgres still down: the record moves to Redis

            async def moved() -> bool:
                return app.state.spool.local.pending() == 0 and await app.state.spool.pending() == 1

            for _ in range(100):
                if await moved():
                    break
                await asyncio.sleep(0.05)
            assert await moved()
            assert "MSG-DISK" in await spool_text(redis_client, app.state.spool)

            pg_faults.restore()
            await spool_drained(app.state.spool)
    rows = await stored(clean_db)
    assert [r["provider_msg_id"] for r in rows] == ["MSG-WARM", "MSG-DISK"]


async def test_a_record_left_by_a_replayer_that_died_is_replayed_by_another(
    clean_db: SessionMaker, redis_client: aioredis.Redis, settings: Settings
) -> None:
    """A replayer killed between taking a record and storing it leaves it in its own list; its
    key expires, and any other api process moves the record back and stores it."""
    await apply_file(settings, TENANT_YAML)
    record = SpooledWebhook(TENANT, "main", baileys("MSG-ORPHAN"), "corr-orphan")
    await redis_call(redis_client, "RPUSH", "atende:spool:replaying:dead-pod-1", record.encode())
    # ...and no atende:spool:alive:dead-pod-1 key: it died.
    await redis_call(redis_client, "SADD", REPLAYERS, "dead-pod-1")
    async with running_app(settings) as app:
        await spool_drained(app.state.spool)
        for _ in range(100):
            if await stored(clean_db):
                break
            await asyncio.sleep(0.05)
    assert [r["provider_msg_id"] for r in await stored(clean_db)] == ["MSG-ORPHAN"]
    assert await redis_client.exists("atende:spool:replaying:dead-pod-1") == 0
    assert (
        await redis_call(redis_client, "SMEMBERS", REPLAYERS) == set()
    )  # the app released itself at exit
