"""POST /hooks/whaticket/{tenant}/{connection}/{secret} end to end: the real app, the real lifespan,
real Postgres and Redis.

What a customer (or the operator) would notice: a message answered 2xx is in Postgres (or the
spool) and queued once; duplicates and echoes are dropped; bad requests get a clear 4xx and leave
nothing behind; the secret in the URL never reaches a log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import structlog
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.api import main as api_main
from services.cli.admin import apply_file
from services.core import jobs
from services.core.db import SessionMaker
from services.core.inbound.spool import PENDING, Spool
from services.core.logging import configure_logging
from services.core.redis import deserialize_job
from tests.api.webhook_app import (
    CONNECTION,
    DEBOUNCE_SECONDS,
    MAX_BODY_BYTES,
    PREVIOUS_SECRET,
    SECRET,
    TENANT,
    TENANT_YAML,
    RunningApp,
    baileys,
    hook_path,
    make_settings,
    running_app,
)
from tests.fixtures.servers import PostgresHandle, free_port, postgres_behind_proxy

PHONE = "5511999998888"
LID = "203040506070809"


@pytest_asyncio.fixture(loop_scope="session")
async def hook(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, TENANT_YAML)
    async with running_app(settings) as app:
        yield app


# -- helpers ---------------------------------------------------------------------------------------


async def stored(sessionmaker: SessionMaker) -> list[dict[str, Any]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            text(
                "SELECT m.id, m.provider_msg_id, m.kind, m.text, m.correlation_id, m.sent_at,"
                " c.phone, c.lid, c.name, v.connection, v.state"
                " FROM inbound_messages m"
                " JOIN conversations v ON v.id = m.conversation_id"
                " JOIN contacts c ON c.id = v.contact_id ORDER BY m.id"
            )
        )
        return [dict(r._mapping) for r in rows]


async def count(sessionmaker: SessionMaker, table: str) -> int:
    async with sessionmaker() as session:
        value: int = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
        return value


async def queued(redis: aioredis.Redis) -> list[str]:
    """The messages' jobs in the queue (the tenant's apply also queued its knowledge's
    embedding, which is not the webhook's doing)."""
    jobs_ = [j.decode() for j in await redis.zrange(jobs.QUEUE, 0, -1)]
    return [j for j in jobs_ if not j.startswith("embed:")]


async def nothing_stored(sessionmaker: SessionMaker, redis: aioredis.Redis) -> bool:
    return (
        await count(sessionmaker, "inbound_messages") == 0
        and await count(sessionmaker, "contacts") == 0
        and await count(sessionmaker, "conversations") == 0
        and await queued(redis) == []
    )


def webhook_counts(exposition: str) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(exposition):
        if family.name == "atende_webhooks":
            for sample in family.samples:
                if sample.name == "atende_webhooks_total":
                    counts[(sample.labels["tenant"], sample.labels["outcome"])] = sample.value
    return counts


# -- accepted, duplicate ---------------------------------------------------------------------------


async def test_text_message_is_stored_and_queued(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    started = time.time() * 1000
    response = await hook.post(baileys("MSG-1", "  Oi, qual o horário?  "))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}

    (row,) = await stored(clean_db)
    assert row["provider_msg_id"] == "MSG-1"
    assert (row["kind"], row["text"]) == ("text", "Oi, qual o horário?")
    assert (row["phone"], row["lid"], row["name"]) == (PHONE, None, "Maria")
    assert (row["connection"], row["state"]) == (CONNECTION, "bot")
    assert row["sent_at"].timestamp() == 1_760_000_000
    # One correlation id from the webhook answer to the stored row and the job.
    assert row["correlation_id"] == response.headers["x-request-id"]
    assert await count(clean_db, "contacts") == 1
    assert await count(clean_db, "conversations") == 1

    assert await queued(redis_client) == ["in:1"]
    score = await redis_client.zscore(jobs.QUEUE, "in:1")
    assert score is not None
    assert score >= started + DEBOUNCE_SECONDS * 1000 - 50  # debounced by the tenant's setting
    raw_job = await redis_client.get("arq:job:in:1")
    assert raw_job is not None
    job = deserialize_job(raw_job)
    assert job["f"] == jobs.PROCESS_INBOUND
    assert list(job["a"]) == [1, row["correlation_id"]]


async def test_same_message_again_is_a_duplicate(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    first = await hook.post(baileys("MSG-DUP"))
    again = await hook.post(baileys("MSG-DUP"))
    assert first.json() == {"status": "accepted"}
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert len(await stored(clean_db)) == 1
    assert await queued(redis_client) == ["in:1"]


async def test_same_message_five_times_concurrently_is_stored_and_queued_once(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    responses = await asyncio.gather(*(hook.post(baileys("MSG-BURST")) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted", "duplicate", "duplicate", "duplicate", "duplicate"]
    assert len(await stored(clean_db)) == 1
    assert await count(clean_db, "contacts") == 1
    assert await count(clean_db, "conversations") == 1
    assert len(await queued(redis_client)) == 1


async def test_message_wrapper_is_accepted(hook: RunningApp, clean_db: SessionMaker) -> None:
    response = await hook.post({"message": baileys("MSG-WRAPPED", "via wrapper")})
    assert response.json() == {"status": "accepted"}
    (row,) = await stored(clean_db)
    assert (row["provider_msg_id"], row["text"]) == ("MSG-WRAPPED", "via wrapper")


# -- authentication and routing --------------------------------------------------------------------


async def test_wrong_secret_is_401_without_detail(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    for wrong in ("wrong-secret-000000000000000000", SECRET[:-1], SECRET + "x"):
        response = await hook.post(baileys("MSG-1"), hook_path(secret=wrong))
        assert response.status_code == 401
        assert response.content == b'{"error":"unauthorized"}'
    assert await nothing_stored(clean_db, redis_client)


async def test_both_rotation_secrets_are_accepted(hook: RunningApp, clean_db: SessionMaker) -> None:
    current = await hook.post(baileys("MSG-NEW"), hook_path(secret=SECRET))
    previous = await hook.post(baileys("MSG-OLD"), hook_path(secret=PREVIOUS_SECRET))
    assert current.json() == previous.json() == {"status": "accepted"}
    assert [r["provider_msg_id"] for r in await stored(clean_db)] == ["MSG-NEW", "MSG-OLD"]


async def test_unknown_tenant_is_404(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    response = await hook.post(baileys("MSG-1"), hook_path(tenant="nobody"))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "tenant" in response.json()["message"]
    assert await nothing_stored(clean_db, redis_client)


async def test_unknown_connection_is_404(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    response = await hook.post(baileys("MSG-1"), hook_path(connection="backup"))
    assert response.status_code == 404
    assert "backup" in response.json()["message"]
    assert await nothing_stored(clean_db, redis_client)


# -- malformed bodies ------------------------------------------------------------------------------


def padded(msg_id: str, size: int) -> bytes:
    body = json.dumps(baileys(msg_id, "x" * size)).encode()
    assert len(body) > MAX_BODY_BYTES
    return body


async def test_oversized_body_is_413_and_not_stored(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    response = await hook.client.post(
        hook_path(), content=padded("MSG-BIG", MAX_BODY_BYTES), headers={"content-type": "json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert await nothing_stored(clean_db, redis_client)


async def test_oversized_body_with_a_lying_content_length_is_413(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    body = padded("MSG-LIAR", 4 * MAX_BODY_BYTES)
    response = await hook.client.post(hook_path(), content=body, headers={"content-length": "100"})
    assert response.status_code == 413
    assert await nothing_stored(clean_db, redis_client)


async def test_oversized_chunked_body_without_content_length_is_413(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    body = padded("MSG-CHUNKED", 4 * MAX_BODY_BYTES)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    request = hook.client.build_request("POST", hook_path(), content=chunks())
    assert "content-length" not in request.headers
    response = await hook.client.send(request)
    assert response.status_code == 413
    assert await nothing_stored(clean_db, redis_client)


async def test_chunked_body_under_the_cap_is_accepted(
    hook: RunningApp, clean_db: SessionMaker
) -> None:
    body = json.dumps(baileys("MSG-SMALL-CHUNKS")).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64):
            yield body[start : start + 64]

    response = await hook.client.post(hook_path(), content=chunks())
    assert response.json() == {"status": "accepted"}
    assert len(await stored(clean_db)) == 1


@pytest.mark.parametrize("body", [b"not json", b'{"key": ', b"\xff\xfe", b"[1, 2]", b'"text"'])
async def test_non_json_body_is_400(
    hook: RunningApp, clean_db: SessionMaker, redis_client: aioredis.Redis, body: bytes
) -> None:
    response = await hook.client.post(hook_path(), content=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_input"
    assert await nothing_stored(clean_db, redis_client)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        pytest.param({"hello": "world"}, "key", id="not-baileys"),
        pytest.param(
            {"key": {"remoteJid": f"{PHONE}@s.whatsapp.net", "id": ""}}, "key.id", id="id"
        ),
        pytest.param({"key": {"remoteJid": PHONE, "id": "X"}}, "remoteJid", id="jid"),
    ],
)
async def test_json_that_is_not_a_baileys_message_is_422(
    hook: RunningApp,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    payload: dict[str, Any],
    fragment: str,
) -> None:
    response = await hook.post(payload)
    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "schema_violation"
    assert fragment in answer["message"]
    assert await nothing_stored(clean_db, redis_client)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(baileys("MSG-ME", "resposta do atendente", from_me=True), "from_me", id="me"),
        pytest.param(baileys("MSG-G", remote="120363025246125888@g.us"), "group", id="group"),
        pytest.param(baileys("MSG-B", remote="status@broadcast"), "broadcast", id="broadcast"),
    ],
)
async def test_not_customer_messages_are_ignored(
    hook: RunningApp,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    payload: dict[str, Any],
    reason: str,
) -> None:
    response = await hook.post(payload)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": reason}
    assert await nothing_stored(clean_db, redis_client)


# -- identity --------------------------------------------------------------------------------------


async def test_lid_then_phone_is_one_contact(hook: RunningApp, clean_db: SessionMaker) -> None:
    first = await hook.post(baileys("MSG-LID", "oi", remote=f"{LID}@lid"))
    second = await hook.post(
        baileys("MSG-PN", "tudo bem?", remote=f"{LID}@lid", senderPn=f"{PHONE}@s.whatsapp.net")
    )
    third = await hook.post(baileys("MSG-PHONE", "alô?", remote=f"{PHONE}:7@s.whatsapp.net"))
    assert [r.json()["status"] for r in (first, second, third)] == ["accepted"] * 3
    rows = await stored(clean_db)
    assert {(r["phone"], r["lid"]) for r in rows} == {(PHONE, LID)}
    assert await count(clean_db, "contacts") == 1
    assert await count(clean_db, "conversations") == 1


async def test_phone_then_lid_is_one_contact(hook: RunningApp, clean_db: SessionMaker) -> None:
    await hook.post(baileys("MSG-PHONE", "oi"))
    await hook.post(
        baileys(
            "MSG-ALT", "oi de novo", remote=f"{LID}@lid", remoteJidAlt=f"{PHONE}@s.whatsapp.net"
        )
    )
    await hook.post(baileys("MSG-LID-ONLY", "e agora?", remote=f"{LID}@lid"))
    assert len(await stored(clean_db)) == 3
    assert await count(clean_db, "contacts") == 1
    assert await count(clean_db, "conversations") == 1


# -- logs, health, metrics -------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root_handlers, root_level = logging.root.handlers[:], logging.root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        logging.root.handlers[:] = root_handlers
        logging.root.setLevel(root_level)


def product_json_logging() -> None:
    """The api's JSON logging on the current (captured) stderr. Called inside the test body: the
    stderr a fixture sees is not the one the test's capture reads."""
    configure_logging("json", "DEBUG")
    structlog.configure(cache_logger_on_first_use=False)  # no logger may keep this stderr


@pytest.mark.usefixtures("restore_logging")
async def test_secret_never_reaches_the_logs(
    hook: RunningApp, capfd: pytest.CaptureFixture[str]
) -> None:
    product_json_logging()
    statuses = [
        (await hook.post(baileys("MSG-LOG"))).status_code,
        (await hook.post(baileys("MSG-LOG"), hook_path(secret=PREVIOUS_SECRET))).status_code,
        (
            await hook.post(baileys("MSG-X"), hook_path(secret="not-the-secret-at-all-xyz"))
        ).status_code,
        (await hook.client.post(hook_path(), content=b"garbage")).status_code,
        (
            await hook.client.post(hook_path(), content=padded("MSG-BIG", MAX_BODY_BYTES))
        ).status_code,
    ]
    assert statuses == [200, 200, 401, 400, 413]
    out, err = capfd.readouterr()
    for secret in (SECRET, PREVIOUS_SECRET, "not-the-secret-at-all-xyz"):
        assert secret not in out + err
    requests = [
        line
        for line in (json.loads(raw) for raw in err.splitlines() if raw.startswith("{"))
        if line.get("event") == "http.request"
    ]
    assert [r["status"] for r in requests] == statuses
    assert {r["path"] for r in requests} == {f"/hooks/whaticket/{TENANT}/{CONNECTION}/***"}
    assert all(r["correlation_id"] for r in requests)


async def test_healthz_and_readyz(hook: RunningApp) -> None:
    health = await hook.client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await hook.client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["spool"] == {"pending": 0, "local_writable": True, "local_records": 0}


async def test_metrics_count_webhooks_by_tenant_and_outcome(hook: RunningApp) -> None:
    before = webhook_counts((await hook.client.get("/metrics")).text)
    await hook.post(baileys("MSG-M1"))
    await hook.post(baileys("MSG-M1"))
    await hook.post(baileys("MSG-M2", from_me=True))
    await hook.post(baileys("MSG-M3"), hook_path(secret="wrong-wrong-wrong-wrong-wrong"))
    await hook.client.post(hook_path(), content=b"{")
    scrape = await hook.client.get("/metrics")
    assert scrape.status_code == 200
    assert "atende_webhooks_total{" in scrape.text
    after = webhook_counts(scrape.text)
    for outcome in ("accepted", "duplicate", "ignored", "unauthorized", "invalid"):
        key = (TENANT, outcome)
        assert after.get(key, 0) - before.get(key, 0) == 1, outcome


# -- outages ---------------------------------------------------------------------------------------


async def test_redis_down_still_stores_and_answers_accepted(
    clean_db: SessionMaker, database_url: str, tmp_path: Path
) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = make_settings(database_url, dead_redis, tmp_path)
    await apply_file(settings, TENANT_YAML)
    async with running_app(settings) as app:
        response = await app.post(baileys("MSG-NO-REDIS"))
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})
    # Durable in Postgres with no turn taken yet: the sweeper enqueues it once Redis is back.
    async with clean_db() as session:
        row = (
            await session.execute(text("SELECT provider_msg_id, turn_id FROM inbound_messages"))
        ).one()
    assert tuple(row) == ("MSG-NO-REDIS", None)


async def spool_text(redis: aioredis.Redis, spool: Spool) -> str:
    """Every record in the Redis spool, waiting or being replayed (read at one instant)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lrange(PENDING, 0, -1)
        pipe.lrange(f"atende:spool:replaying:{spool.replayer}", 0, -1)
        waiting, claimed = await pipe.execute()
    return b"".join([*waiting, *claimed]).decode()


async def spool_drained(spool: Spool) -> None:
    """Wait for the background replayer (every 0.25 s in these tests), at most 5 s."""
    for _ in range(100):
        if await spool.pending() == 0 and spool.local.pending() == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the spool was not replayed within 5 s")


async def test_postgres_down_spools_and_replays(
    postgres: PostgresHandle,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(api_main, "SPOOL_REPLAY_SECONDS", 0.25)
    with postgres_behind_proxy(postgres, database_url) as (proxy, proxied):
        # A short tenant cache: the outage outlasts it, as a real one would.
        settings = make_settings(proxied, redis_url, tmp_path, tenant_cache_seconds=0.2)
        await apply_file(settings, TENANT_YAML)
        async with running_app(settings) as app:
            warm = await app.post(baileys("MSG-BEFORE"))
            assert warm.json() == {"status": "accepted"}

            proxy.reset()  # every connection to Postgres dies, new ones are refused
            await asyncio.sleep(0.3)  # the tenant cache has expired
            during = await app.post(baileys("MSG-DURING", "mensagem na queda"))
            repeat = await app.post(baileys("MSG-BEFORE"))  # its duplicate cannot be checked now
            assert (during.status_code, during.json()) == (200, {"status": "spooled"})
            assert (repeat.status_code, repeat.json()) == (200, {"status": "spooled"})
            ready = await app.client.get("/readyz")
            assert ready.status_code == 200  # the spool keeps the pod able to accept webhooks
            assert ready.json()["checks"]["postgres"].startswith("down")

            assert await app.state.spool.pending() == 2
            text_ = await spool_text(redis_client, app.state.spool)
            assert "MSG-DURING" in text_
            assert "mensagem na queda" in text_
            assert SECRET not in text_
            assert app.state.spool.local.pending() == 0  # Redis took them, not this disk
            await asyncio.sleep(0.6)  # the replayer tries (and fails) a couple of times
            assert await app.state.spool.pending() == 2

            proxy.restore()

            await spool_drained(app.state.spool)
            rows = await stored(clean_db)
            assert sorted(r["provider_msg_id"] for r in rows) == ["MSG-BEFORE", "MSG-DURING"]
            assert next(r for r in rows if r["provider_msg_id"] == "MSG-DURING")["text"] == (
                "mensagem na queda"
            )
            assert sorted(await queued(redis_client)) == sorted(f"in:{r['id']}" for r in rows)
            assert await spool_text(redis_client, app.state.spool) == ""


async def test_a_pod_that_never_read_the_tenants_spools_only_what_the_webhook_keys_admit(
    postgres: PostgresHandle,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pod that starts during an outage cannot look the tenant up. It spools a webhook only
    when the keys another api published (the tenant, its connection, its secret's hash) admit
    it, and the replay checks the secret again; a stranger's path is refused (503), kept nowhere
    and named in no metric, so nobody can fill the spool."""
    monkeypatch.setattr(api_main, "SPOOL_REPLAY_SECONDS", 0.25)
    with postgres_behind_proxy(postgres, database_url) as (proxy, proxied):
        settings = make_settings(proxied, redis_url, tmp_path)
        await apply_file(settings, TENANT_YAML)
        async with running_app(settings) as app:  # a pod that read the tenants
            before = await app.post(baileys("MSG-BEFORE"))
            assert before.json() == {"status": "accepted"}
        proxy.reset()
        async with running_app(settings) as app:  # and one that starts during the outage
            genuine = await app.post(baileys("MSG-GENUINE", "chegou na queda"))
            forged = await app.client.post(
                hook_path(secret="not-the-secret-of-this-tenant"), json=baileys("MSG-FORGED")
            )
            strangers = [
                await app.client.post(
                    hook_path(tenant=f"stranger-{i}", secret=f"whatever-{i}"),
                    json=baileys(f"MSG-STRANGER-{i}"),
                )
                for i in range(5)
            ]
            assert (genuine.status_code, genuine.json()) == (200, {"status": "spooled"})
            assert forged.status_code == 401
            assert {r.status_code for r in strangers} == {503}
            assert strangers[0].json()["error"] == "unavailable"
            spooled = await spool_text(redis_client, app.state.spool)
            assert "MSG-GENUINE" in spooled
            assert "MSG-FORGED" not in spooled
            assert "STRANGER" not in spooled
            assert SECRET not in spooled
            assert app.state.spool.local.pending() == 0
            tenants = {
                tenant for tenant, _ in webhook_counts((await app.client.get("/metrics")).text)
            }
            assert not any(t.startswith("stranger") for t in tenants)

            proxy.restore()
            await spool_drained(app.state.spool)
    rows = await stored(clean_db)
    assert sorted((r["provider_msg_id"], r["text"]) for r in rows)[1] == (
        "MSG-GENUINE",
        "chegou na queda",
    )
    assert sorted(r["provider_msg_id"] for r in rows) == ["MSG-BEFORE", "MSG-GENUINE"]


# -- a person in the conversation ------------------------------------------------------------------


async def test_a_person_answering_through_whaticket_pauses_the_bot(
    hook: RunningApp, clean_db: SessionMaker
) -> None:
    assert (await hook.post(baileys("MSG-P1", "Oi, quero ajuda"))).status_code == 200
    response = await hook.post(baileys("AGENT-1", "Oi Maria! Aqui é o Pedro.", from_me=True))

    assert response.json() == {"status": "ignored", "reason": "from_me"}  # never a turn
    (row,) = await stored(clean_db)
    assert row["state"] == "human"
    assert await count(clean_db, "handoffs") == 1


async def test_redis_memory_and_keys_are_exported(
    hook: RunningApp, redis_client: aioredis.Redis
) -> None:
    """For the Redis-near-its-limit alert: the api exports the queue Redis's use."""
    await redis_client.set("some-key", "x")

    async def exported() -> dict[str, float]:
        text = (await hook.client.get("/metrics")).text
        found = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.startswith("atende_redis_") and sample.labels == {"role": "queue"}:
                    found[sample.name] = sample.value
        return found

    values: dict[str, float] = {}
    for _ in range(40):  # the gauges refresh every few seconds
        values = await exported()
        if values.get("atende_redis_keys", 0) >= 1:
            break
        await asyncio.sleep(0.25)
    assert values["atende_redis_keys"] >= 1
    assert values["atende_redis_used_memory_bytes"] > 100_000
    assert "atende_redis_maxmemory_bytes" in values


async def test_a_nul_character_is_dropped_not_a_server_error(
    hook: RunningApp, clean_db: SessionMaker
) -> None:
    """Postgres cannot store U+0000 (the fuzzer found it): the message is kept without it."""
    response = await hook.post(baileys("NUL-1", "oi\x00 tudo bem?"))
    assert response.json() == {"status": "accepted"}
    (row,) = await stored(clean_db)
    assert row["text"] == "oi tudo bem?"
