"""A pod deleted during a Postgres outage takes nothing with it: the webhooks it answered 200 wait
in the queue Redis, and a new api process on a fresh, empty disk stores them once Postgres is
back."""

from __future__ import annotations

import asyncio

from services.core.models import InboundMessage
from tests.fixtures.servers import PostgresHandle, postgres_behind_proxy

from .conftest import Stack, answer_for, baileys_text, eventually
from .test_outages import numbers, restart_processes


async def test_an_api_killed_mid_outage_loses_no_answered_webhook(
    stack: Stack, postgres: PostgresHandle, database_url: str
) -> None:
    with postgres_behind_proxy(postgres, database_url) as (proxy, proxied):
        await restart_processes(stack, ATENDE_DATABASE_URL=proxied)
        proxy.reset()  # Postgres unreachable from here on
        await asyncio.sleep(0.5)  # past the tenant cache
        phones = numbers("1190", 6)
        for i, phone in enumerate(phones):
            response = await stack.post(baileys_text(f"KILL-{i}", f"pergunta KILL {i}", phone))
            assert (response.status_code, response.json()) == (200, {"status": "spooled"})

        assert stack.api is not None
        stack.api.kill()  # SIGKILL: the pod is gone, and its disk with it
        old_disk = stack.tmp / "data"
        assert not any((old_disk / "spool").glob("*")), "the spool was not on the pod's disk"
        stack.start_api(ATENDE_DATABASE_URL=proxied, ATENDE_DATA_DIR=str(stack.tmp / "fresh"))
        await stack.wait_api_ready()  # ready during the outage: the spool is writable

        # This api never read the tenants: it spools what the webhook keys the first one
        # published admit, and keeps nothing of a stranger's path (503, no metric label).
        late = "11908880001"
        response = await stack.post(baileys_text("KILL-LATE", "pergunta KILL tarde", late))
        assert (response.status_code, response.json()) == (200, {"status": "spooled"})
        stranger = await stack.http.post(
            stack.hook_path(tenant="stranger", secret="any-secret-at-all"),
            json=baileys_text("STRANGER-1", "lixo", "11900000000"),
        )
        scrape = (await stack.http.get("/metrics")).text
        assert stranger.status_code == 503
        assert 'tenant="stranger"' not in scrape

        proxy.restore()

        async def all_stored() -> bool:
            rows = await stack.rows(InboundMessage)
            expected = {f"KILL-{i}" for i in range(len(phones))} | {"KILL-LATE"}
            return {r.provider_msg_id for r in rows} >= expected

        await eventually(all_stored, within=30, what="every answered webhook stored")

        async def everyone_answered() -> bool:
            return all(stack.sent_to(phone) for phone in [*phones, late])

        await eventually(everyone_answered, within=30, what="an answer to every message")
        await asyncio.sleep(1.5)
        for i, phone in enumerate(phones):
            assert [d["text"] for d in stack.sent_to(phone)] == [answer_for(f"pergunta KILL {i}")]
        assert [d["text"] for d in stack.sent_to(late)] == [answer_for("pergunta KILL tarde")]
        assert not await stack.rows(InboundMessage, InboundMessage.provider_msg_id == "STRANGER-1")
