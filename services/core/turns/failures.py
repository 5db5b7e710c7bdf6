"""When a turn cannot complete: the dead letter with its full context, and the honest fallback.

These are the rare paths, so they favour clarity (ORM rows) over speed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.db import SessionMaker, transaction
from services.core.dlq.service import record_dead_letter
from services.core.errors import DependencyError
from services.core.handoff.messages import say
from services.core.handoff.service import hand_over_turn
from services.core.handoff.triggers import Trigger
from services.core.logging import get_logger
from services.core.metrics import DEAD_LETTERS, TURNS
from services.core.models import Contact, Conversation, OutboundMessage, Turn
from services.core.outbound import delivery, outage, records
from services.core.outbound.sending import Unsent
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.messages import Kind

from . import store

log = get_logger(__name__)


async def _hand_off(session: AsyncSession, tenant: TenantConfig, turn: Turn) -> int | None:
    if not tenant.spec.tickets_movable:
        return None
    said = [m.text for m in await store.turn_messages(session, turn.id) if m.text]
    return await hand_over_turn(
        session,
        tenant,
        conversation_id=turn.conversation_id,
        turn_id=turn.id,
        trigger=Trigger.FAILURE,
        reason=f"the bot could not answer ({turn.error_class})",
        customer_texts=said,
    )


async def _someone_can_answer(
    session: AsyncSession, tenant: TenantConfig, outbound_id: int, error_class: str
) -> bool:
    """After a send given up: whether a person could still reach the customer."""
    channel, phone, email = (
        await session.execute(
            select(OutboundMessage.channel, Contact.phone, Contact.email)
            .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(OutboundMessage.id == outbound_id)
        )
    ).one()
    return outage.person_can_answer(
        tenant, channel=channel, error_class=error_class, phone=phone, email=email
    )


async def _context(session: AsyncSession, tenant: TenantConfig, turn: Turn) -> dict[str, object]:
    messages = await store.turn_messages(session, turn.id)
    reply = await session.scalar(
        select(OutboundMessage.text).where(OutboundMessage.turn_id == turn.id)
    )
    conversation = await session.get(Conversation, turn.conversation_id)
    assert conversation is not None
    contact = await session.get(Contact, conversation.contact_id)
    return {
        "tenant": tenant.slug,
        "conversation_id": turn.conversation_id,
        "connection": conversation.connection,
        "contact": {"phone": contact.phone, "lid": contact.lid} if contact else None,
        "correlation_id": turn.correlation_id,
        "messages": [{"id": m.id, "kind": m.kind, "text": m.text} for m in messages],
        "reply": reply,
        "last_error": turn.last_error,
    }


class TurnGone(Exception):
    """The turn's rows were erased while it ran (its customer was forgotten): nothing is left
    to retry, dead-letter or answer."""


async def note_attempt(sessionmaker: SessionMaker, turn_id: int, exc: DependencyError) -> int:
    """Count a failed model call on the turn; returns the attempts so far."""
    async with transaction(sessionmaker) as session:
        turn = await session.get(Turn, turn_id, with_for_update=True)
        if turn is None:
            raise TurnGone(turn_id)
        turn.attempts += 1
        turn.error_class = exc.error_class
        turn.last_error = exc.message[:500]
        return turn.attempts


async def give_up_generating(
    deps: Runtime, tenant: TenantConfig, turn_id: int, error_class: str, attempts: int
) -> None:
    """Dead-letter the turn and store the tenant's fallback as its reply, to be sent next; when
    the failure hands the conversation to a person, the transfer is enqueued after the commit."""
    async with transaction(deps.sessionmaker) as session:
        turn = await session.get(Turn, turn_id, with_for_update=True)
        if turn is None:
            raise TurnGone(turn_id)
        context = await _context(session, tenant, turn)
        await record_dead_letter(
            session,
            tenant,
            turn,
            stage="llm",
            error_class=error_class,
            error=turn.last_error or error_class,
            attempts=attempts,
            context=context,
        )
        turn.error_class = error_class
        await store.store_reply(
            session,
            turn_id=turn.id,
            tenant_id=turn.tenant_id,
            conversation_id=turn.conversation_id,
            channel=delivery.channel_of(tenant, str(context["connection"])),
            text=say(tenant.spec, Kind.FALLBACK, deps.clock()),
            kind="fallback",
        )
        handoff_id = await _hand_off(session, tenant, turn)
    DEAD_LETTERS.labels(tenant.slug, "llm").inc()
    log.error("turn.dead_letter", turn_id=turn_id, stage="llm", error_class=error_class)
    await enqueue_handoff(deps, handoff_id)


async def record_send_failure(
    deps: Runtime, tenant: TenantConfig, turn_id: int, outbound_id: int, unsent: Unsent
) -> None:
    """Keep the reply for a retry, or dead-letter the turn when sending is given up, and hand
    the conversation to a person only if one could reach the customer: not while the
    connection is down with no fallback channel (the reply waits for it to come back)."""
    exc = unsent.error
    handoff_id: int | None = None
    async with transaction(deps.sessionmaker) as session:
        await records.mark_unsent(
            session, outbound_id, status=unsent.status, error_class=exc.error_class
        )
        turn = await session.get(Turn, turn_id, with_for_update=True)
        assert turn is not None
        turn.error_class, turn.last_error = exc.error_class, exc.message[:500]
        if not unsent.retry:
            context = await _context(session, tenant, turn)
            await record_dead_letter(
                session,
                tenant,
                turn,
                stage="send",
                error_class=exc.error_class,
                error=exc.message,
                attempts=unsent.attempts,
                context=context,
            )
            turn.status = "dead"
            if await _someone_can_answer(session, tenant, outbound_id, exc.error_class):
                handoff_id = await _hand_off(session, tenant, turn)
            else:
                log.warning("turn.no_handoff", turn_id=turn_id, error_class=exc.error_class)
    if not unsent.retry:
        DEAD_LETTERS.labels(tenant.slug, "send").inc()
        TURNS.labels(tenant.slug, "dead").inc()
    await enqueue_handoff(deps, handoff_id)


async def enqueue_handoff(deps: Runtime, handoff_id: int | None) -> None:
    """After the commit that created it; a lost enqueue is re-done by the handoff watcher."""
    if handoff_id is not None:
        await jobs.enqueue_handoff(deps.redis, handoff_id)
