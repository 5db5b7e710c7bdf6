"""The sweeper finds in Postgres what Redis lost, and re-enqueues it once per period."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, update

from services.core import jobs
from services.core.db import transaction
from services.core.models import Conversation, InboundMessage, Turn
from services.core.turns.sweeper import sweep
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply

STUCK_AFTER = 60.0


async def _age(harness: Harness, inbound_id: int, seconds: float) -> None:
    async with transaction(harness.sessionmaker) as session:
        await session.execute(
            update(InboundMessage)
            .where(InboundMessage.id == inbound_id)
            .values(received_at=func.now() - timedelta(seconds=seconds))
        )


async def _queued(harness: Harness) -> list[tuple[str, tuple[object, ...]]]:
    found = await harness.deps.redis.queued_jobs(queue_name=jobs.QUEUE)
    return sorted((str(job.function), tuple(job.args)) for job in found)


async def test_lost_job_is_re_enqueued_once_per_period(harness: Harness) -> None:
    lost = await harness.ingest("alguém aí?")  # stored, but its job never reached Redis
    await _age(harness, lost, STUCK_AFTER * 2)
    fresh = await harness.ingest("oi", phone="5521988887777")  # its job may still be on the way

    counts = await asyncio.gather(
        sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER),
        sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER),
    )
    assert max(counts) == 1
    assert await _queued(harness) == [(jobs.PROCESS_INBOUND, (lost, None))]
    assert await harness.redis.zcard(jobs.QUEUE) == 1

    # A later sweep in the same period does not double it either.
    await sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER)
    assert await harness.redis.zcard(jobs.QUEUE) == 1
    assert fresh not in [args[0] for _, args in await _queued(harness)]

    # Running the recovered job answers the customer.
    harness.gemini.script(Reply.text("Estou aqui! Como posso ajudar?"))
    await harness.run(lost)
    assert harness.delivered() == ["Estou aqui! Como posso ajudar?"]


async def test_pending_turn_with_an_expired_lease_is_re_enqueued(harness: Harness) -> None:
    inbound_id = await harness.ingest("minha internet caiu")
    # A worker took the conversation, opened the turn, and died before calling the model.
    async with transaction(harness.sessionmaker) as session:
        message = await session.get(InboundMessage, inbound_id)
        assert message is not None
        turn = Turn(
            tenant_id=message.tenant_id,
            conversation_id=message.conversation_id,
            status="pending",
            attempts=0,
            correlation_id=message.correlation_id,
        )
        session.add(turn)
        await session.flush()
        message.turn_id = turn.id
        await session.execute(
            update(Turn)
            .where(Turn.id == turn.id)
            .values(updated_at=func.now() - timedelta(seconds=STUCK_AFTER * 2))
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == message.conversation_id)
            .values(lease_owner="dead-worker", lease_until=func.now() - timedelta(seconds=1))
        )

    enqueued = await sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER)

    assert enqueued == 1
    assert await _queued(harness) == [(jobs.PROCESS_INBOUND, (inbound_id, None))]
    harness.gemini.script(Reply.text("Vamos verificar sua conexão."))
    await harness.run(inbound_id)
    assert harness.delivered() == ["Vamos verificar sua conexão."]
    [turn] = await harness.turns()
    assert turn.status == "answered"


async def test_live_lease_is_left_alone(harness: Harness) -> None:
    inbound_id = await harness.ingest("oi")
    await _age(harness, inbound_id, STUCK_AFTER * 2)
    async with transaction(harness.sessionmaker) as session:
        message = await session.get(InboundMessage, inbound_id)
        assert message is not None
        await session.execute(
            update(Conversation)
            .where(Conversation.id == message.conversation_id)
            .values(lease_owner="busy-worker", lease_until=func.now() + timedelta(seconds=30))
        )

    assert await sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER) == 0
    assert await harness.redis.zcard(jobs.QUEUE) == 0


async def test_a_job_waiting_for_its_ingest_slot_is_not_swept_early(harness: Harness) -> None:
    """A flood's excess waits in the queue with future scores; the sweeper must not run it now."""
    waiting = await harness.ingest("mensagem 1 de muitas")
    lost = await harness.ingest("mensagem perdida", phone="5521988887777")
    for inbound_id in (waiting, lost):
        await _age(harness, inbound_id, STUCK_AFTER * 2)
    await jobs.enqueue_inbound(harness.deps.redis, waiting, defer_seconds=600)

    assert await sweep(harness.sessionmaker, harness.deps.redis, stuck_after=STUCK_AFTER) == 1
    assert {args[0] for _, args in await _queued(harness)} == {lost, waiting}
    assert await harness.redis.zcard(jobs.QUEUE) == 2  # the deferred one was not doubled
