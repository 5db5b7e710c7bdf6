"""Replaying and discarding a dead letter as any operator does it (the CLI, the panel, /api/v1):
the letter changes, the audit log names who did it, the replay's job is queued under its own id,
and another tenant's letter is not even there."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.audit import service as audit
from services.core.db import SessionMaker, transaction
from services.core.dlq import audited
from services.core.errors import InvalidInput, NotFound
from services.core.models import (
    AuditEvent,
    Contact,
    Conversation,
    DeadLetter,
    InboundMessage,
    Tenant,
    Turn,
)
from services.core.redis import create_redis
from tests.core.audit.test_audit import _tenant


@pytest_asyncio.fixture(loop_scope="session")
async def queue(redis_url: str, redis_client: object) -> AsyncIterator[ArqRedis]:
    """The job queue, emptied first (``redis_client`` flushes it)."""
    redis = create_redis(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def new_conversation(session: AsyncSession, tenant_id: int, phone: str) -> Conversation:
    """A customer and their conversation on the tenant's ``main`` connection."""
    contact = Contact(tenant_id=tenant_id, phone=phone)
    session.add(contact)
    await session.flush()
    conversation = Conversation(tenant_id=tenant_id, contact_id=contact.id, connection="main")
    session.add(conversation)
    await session.flush()
    return conversation


async def store_dead_letter(sessionmaker: SessionMaker) -> tuple[int, int]:
    """(dead letter id, its first message id): a turn the model failed, as the worker leaves it."""
    async with transaction(sessionmaker) as session:
        tenant = await session.scalar(select(Tenant))
        assert tenant is not None
        conversation = await new_conversation(session, tenant.id, "5511999990001")
        turn = Turn(
            tenant_id=tenant.id,
            conversation_id=conversation.id,
            status="dead",
            correlation_id="c" * 32,
        )
        session.add(turn)
        await session.flush()
        message = InboundMessage(
            tenant_id=tenant.id,
            conversation_id=conversation.id,
            provider_msg_id="wamid-1",
            kind="text",
            text="minha internet caiu",
            payload={},
            turn_id=turn.id,
            correlation_id="c" * 32,
        )
        letter = DeadLetter(
            tenant_id=tenant.id,
            turn_id=turn.id,
            stage="llm",
            error_class="gemini_unavailable",
            error="503 from Gemini",
            attempts=4,
            context={"tenant": tenant.slug},
        )
        session.add_all([message, letter])
        await session.flush()
        return letter.id, message.id


async def _audit_rows(sessionmaker: SessionMaker) -> list[tuple[str, str, dict[str, object]]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.actor, e.action, e.details) for e in rows]


async def test_a_replay_is_audited_and_queued_under_its_own_job_id(
    clean_db: SessionMaker, queue: ArqRedis
) -> None:
    await _tenant(clean_db)
    letter_id, message_id = await store_dead_letter(clean_db)
    async with transaction(clean_db) as session:
        done = await audited.replay(session, letter_id, actor="cli:ana")
    assert (done.dead_letter_id, done.inbound_id) == (letter_id, message_id)
    assert await audited.queue_replay(queue, done) == "queued"
    job_id = jobs.inbound_job_id(message_id, f"replay{letter_id}")
    assert await queue.exists(job_key_prefix + job_id)
    async with clean_db() as session:
        letter = await session.get(DeadLetter, letter_id)
        message = await session.get(InboundMessage, message_id)
        assert (await audit.verify(session)).ok
    assert letter is not None
    assert message is not None
    assert letter.status == "replayed"
    assert message.turn_id is None  # a new turn answers it for real
    assert await _audit_rows(clean_db) == [("cli:ana", "dlq.replay", {"dead_letter_id": letter_id})]


async def test_a_second_replay_is_refused_and_leaves_no_second_audit_row(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    letter_id, _ = await store_dead_letter(clean_db)
    async with transaction(clean_db) as session:
        await audited.replay(session, letter_id, actor="ana@acme.example")
    with pytest.raises(InvalidInput, match="is replayed, not open"):
        async with transaction(clean_db) as session:
            await audited.replay(session, letter_id, actor="ana@acme.example")
    assert len(await _audit_rows(clean_db)) == 1


async def test_a_discard_keeps_its_reason_on_the_letter_and_in_the_audit_log(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    letter_id, _ = await store_dead_letter(clean_db)
    async with transaction(clean_db) as session:
        await audited.discard(session, letter_id, reason="  spam  ", actor="ana@acme.example")
    async with clean_db() as session:
        letter = await session.get(DeadLetter, letter_id)
    assert letter is not None
    assert (letter.status, letter.context["discard_reason"]) == ("discarded", "spam")
    assert await _audit_rows(clean_db) == [
        ("ana@acme.example", "dlq.discard", {"dead_letter_id": letter_id, "reason": "spam"})
    ]


async def test_another_tenants_letter_is_not_found_like_a_missing_one(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    letter_id, _ = await store_dead_letter(clean_db)
    async with clean_db() as session:
        letter = await audited.letter_in_scope(session, letter_id, None)
        mine = await audited.letter_in_scope(session, letter_id, letter.tenant_id)
        assert mine.id == letter_id
        with pytest.raises(NotFound, match=f"dead letter {letter_id} not found"):
            await audited.letter_in_scope(session, letter_id, letter.tenant_id + 1)
        with pytest.raises(NotFound, match="dead letter 999 not found"):
            await audited.letter_in_scope(session, 999, None)
