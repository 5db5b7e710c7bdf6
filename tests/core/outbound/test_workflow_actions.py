"""What a tenant's workflow asks through the action API, as the worker carries it out: a
message reaches the customer once whatever the jobs do, a Whaticket that keeps failing ends in
an honest ``failed``, a lost job is found by the sweeper, and a close closes the ticket once."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from services.core.conversations.service import latest_conversation
from services.core.db import transaction
from services.core.errors import Conflict
from services.core.handoff.closing import close_ticket
from services.core.models import OutboundMessage
from services.core.outbound import workflow
from services.core.retry import RetryLater
from services.core.turns.sweeper import sweep
from tests.fixtures.turns import PHONE, Harness
from tests.standins.gemini import Reply

AGENT_PASSWORD = "bot-password"
NOTICE = "Seu pedido 4711 saiu para entrega hoje."


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _queue(harness: Harness, key: str = "order-4711-shipped", text: str = NOTICE) -> int:
    assert harness.tenant is not None
    async with transaction(harness.sessionmaker) as session:
        queued = await workflow.queue_message(
            session, harness.tenant, phone=PHONE, text=text, request_key=key
        )
    assert queued is not None
    message, _ = queued
    return message.id


async def _row(harness: Harness, message_id: int) -> OutboundMessage:
    async with harness.sessionmaker() as session:
        row = await session.get(OutboundMessage, message_id)
    assert row is not None
    return row


async def _send_until_done(harness: Harness, message_id: int, rounds: int = 10) -> int:
    """Run the job as arq would, retrying on RetryLater; how many retries it asked for."""
    for retries in range(rounds):
        try:
            await workflow.send(harness.deps, message_id)
        except RetryLater as later:
            await asyncio.sleep(min(later.defer, 1.0))  # the breaker's half-open wait
            continue
        return retries
    raise AssertionError("still retrying")


async def test_a_workflow_message_reaches_the_customer_once(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Olá! Como posso ajudar?"))
    await harness.run(await harness.ingest("oi"))
    message_id = await _queue(harness)

    await workflow.send(harness.deps, message_id)
    await workflow.send(harness.deps, message_id)  # a duplicate job

    assert harness.delivered()[-1] == NOTICE
    assert harness.delivered().count(NOTICE) == 1
    row = await _row(harness, message_id)
    assert (row.status, row.attempts, row.turn_id, row.kind) == ("sent", 1, None, "workflow")

    # The same request again is the same message; the same key with other words is refused.
    assert await _queue(harness) == message_id
    with pytest.raises(Conflict):
        await _queue(harness, text="Outro texto")

    # The bot knows what the customer was told: the next turn's history has it.
    harness.gemini.script(Reply.text("Chega até as 18h."))
    await harness.run(await harness.ingest("que horas chega?"))
    history = str(harness.gemini.requests[-1].body["contents"])
    assert NOTICE in history


async def test_a_send_that_keeps_failing_ends_honestly(harness: Harness) -> None:
    """A 500 may hide a delivered message: retried, then ``unknown``, never ``failed``; a
    refused token is ``failed`` at once, with the reason for the caller."""
    await harness.run(await harness.ingest("oi"))
    message_id = await _queue(harness)
    harness.whaticket.set_mode(fail=500)
    before = metric("atende_send_errors_total", tenant="acme", error_class="whaticket_500")

    retries = await _send_until_done(harness, message_id)

    row = await _row(harness, message_id)
    assert (row.status, row.attempts, row.last_error) == ("unknown", 3, "whaticket_500")
    assert retries == 2  # send_max_attempts is 3
    assert metric("atende_send_errors_total", tenant="acme", error_class="whaticket_500") == (
        before + 3
    )
    harness.whaticket.set_mode(fail=None)
    await workflow.send(harness.deps, message_id)  # given up means given up
    assert NOTICE not in harness.delivered()

    harness.whaticket.set_mode(fail=401)
    refused = await _queue(harness, key="order-4712-shipped")
    await _send_until_done(harness, refused)
    row = await _row(harness, refused)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "whaticket_auth"


async def test_the_sweeper_finds_a_message_whose_job_was_lost(harness: Harness) -> None:
    await harness.run(await harness.ingest("oi"))
    message_id = await _queue(harness)  # stored, never enqueued (Redis lost the job)

    assert await sweep(harness.sessionmaker, harness.deps.redis, stuck_after=0) >= 1

    keys = [k.decode() async for k in harness.redis.scan_iter(f"arq:job:wmsg:{message_id}:*")]
    assert len(keys) == 1
    await workflow.send(harness.deps, message_id)
    assert harness.delivered()[-1] == NOTICE


async def test_a_close_closes_the_customers_ticket_once(harness: Harness) -> None:
    await harness.apply_tenant(agent_password=AGENT_PASSWORD)
    await harness.run(await harness.ingest("oi"))
    assert harness.tenant is not None
    async with harness.sessionmaker() as session:
        conversation_id = await latest_conversation(session, harness.tenant.id, PHONE)
    assert conversation_id is not None
    [ticket] = [t for t in harness.whaticket.tickets() if t["contact"]["number"] == PHONE]
    assert ticket["status"] != "closed"

    await close_ticket(harness.deps, conversation_id, attempt=1)
    await close_ticket(harness.deps, conversation_id, attempt=1)  # a duplicate job

    [closed] = [t for t in harness.whaticket.tickets() if t["id"] == ticket["id"]]
    assert closed["status"] == "closed"
    puts = [r for r in harness.whaticket.requests() if r["method"] == "PUT"]
    assert len(puts) == 1
