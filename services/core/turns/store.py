"""The SQL of a turn's happy path, as plain statements on plain rows.

A worker runs hundreds of turns at once, so the path every turn takes avoids the ORM's unit of
work: each step is one statement (or two) whose ``WHERE`` clause is the state transition it
makes. The rare paths (dead letters, replays) use the ORM in ``failures.py`` and ``dlq/``; a stored
reply's send status changes in ``outbound/records.py``, where every message's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.conversations.messages import MessageRow
from services.core.db import execute
from services.core.models import (
    OPEN_TURN_STATES,
    Contact,
    Conversation,
    InboundMessage,
    OutboundMessage,
    Turn,
)


async def _scalar(session: AsyncSession, statement: Executable) -> Any:
    return (await execute(session, statement)).scalar()


@dataclass(frozen=True, slots=True)
class TurnRef:
    id: int
    tenant_id: int
    conversation_id: int
    status: str
    attempts: int
    correlation_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Burst:
    """The messages still waiting for a turn: when the first and the last arrived."""

    newest: datetime | None
    oldest: datetime | None
    now: datetime


@dataclass(frozen=True, slots=True)
class PendingSend:
    """A stored reply about to be sent, with where it goes."""

    outbound_id: int
    status: str
    kind: str
    channel: str
    text: str
    connection: str
    phone: str | None
    waited_seconds: float  # since the reply was stored
    campaign: str | None  # the conversation's, for metrics by campaign
    email: str | None  # the contact's, for the e-mail fallback


_TURN_COLUMNS = (
    Turn.id,
    Turn.tenant_id,
    Turn.conversation_id,
    Turn.status,
    Turn.attempts,
    Turn.correlation_id,
    Turn.created_at,
)


@dataclass(frozen=True, slots=True)
class Origin:
    conversation_id: int
    tenant_id: int
    correlation_id: str
    contact_id: int


async def message_origin(session: AsyncSession, inbound_id: int) -> Origin | None:
    """Where a stored message belongs: its conversation, tenant, correlation id and contact."""
    row = (
        await execute(
            session,
            select(
                InboundMessage.conversation_id,
                InboundMessage.tenant_id,
                InboundMessage.correlation_id,
                Conversation.contact_id,
            )
            .join(Conversation, Conversation.id == InboundMessage.conversation_id)
            .where(InboundMessage.id == inbound_id),
        )
    ).one_or_none()
    return Origin(**row._mapping) if row is not None else None


async def waiting_burst(session: AsyncSession, conversation_id: int) -> Burst:
    row = (
        await execute(
            session,
            select(
                func.max(InboundMessage.received_at).label("newest"),
                func.min(InboundMessage.received_at).label("oldest"),
                func.now().label("now"),
            ).where(
                InboundMessage.conversation_id == conversation_id,
                InboundMessage.turn_id.is_(None),
            ),
        )
    ).one()
    return Burst(**row._mapping)


async def open_turn(session: AsyncSession, conversation_id: int) -> TurnRef | None:
    row = (
        await execute(
            session,
            select(*_TURN_COLUMNS)
            .where(Turn.conversation_id == conversation_id, Turn.status.in_(OPEN_TURN_STATES))
            .order_by(Turn.id)
            .limit(1),
        )
    ).one_or_none()
    return TurnRef(**row._mapping) if row else None


async def start_turn(session: AsyncSession, tenant_id: int, conversation_id: int) -> TurnRef | None:
    """A new turn holding every unanswered message of the conversation, or None if none."""
    waiting = (
        await execute(
            session,
            select(InboundMessage.id, InboundMessage.correlation_id)
            .where(
                InboundMessage.conversation_id == conversation_id,
                InboundMessage.turn_id.is_(None),
            )
            .order_by(InboundMessage.id)
            .with_for_update(skip_locked=True),
        )
    ).all()
    if not waiting:
        return None
    row = (
        await execute(
            session,
            insert(Turn)
            .values(
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                status="pending",
                attempts=0,
                correlation_id=waiting[-1].correlation_id,
            )
            .returning(*_TURN_COLUMNS),
        )
    ).one()
    await execute(
        session,
        update(InboundMessage)
        .where(InboundMessage.id.in_([m.id for m in waiting]))
        .values(turn_id=row.id),
    )
    return TurnRef(**row._mapping)


async def turn_messages(session: AsyncSession, turn_id: int) -> list[MessageRow]:
    rows = await execute(
        session,
        select(
            InboundMessage.id, InboundMessage.kind, InboundMessage.text, InboundMessage.received_at
        )
        .where(InboundMessage.turn_id == turn_id)
        .order_by(InboundMessage.id),
    )
    return [MessageRow(**row._mapping) for row in rows]


async def newest_waiting(session: AsyncSession, conversation_id: int) -> int | None:
    """A message that arrived after the turn took its burst (it makes the reply stale)."""
    newest: int | None = await _scalar(
        session,
        select(func.max(InboundMessage.id)).where(
            InboundMessage.conversation_id == conversation_id,
            InboundMessage.turn_id.is_(None),
        ),
    )
    return newest


async def set_status(session: AsyncSession, turn_id: int, status: str) -> None:
    await execute(session, update(Turn).where(Turn.id == turn_id).values(status=status))


async def supersede(session: AsyncSession, turn_id: int) -> None:
    """The turn's answer is stale: its messages go back to wait for the next turn."""
    await set_status(session, turn_id, "superseded")
    await execute(
        session,
        update(InboundMessage).where(InboundMessage.turn_id == turn_id).values(turn_id=None),
    )


async def store_reply(
    session: AsyncSession,
    *,
    turn_id: int,
    tenant_id: int,
    conversation_id: int,
    channel: str,
    text: str,
    kind: str,
    usage: dict[str, Any] | None = None,
) -> None:
    """The reply row first, then the turn moves to ``replying``; one transaction."""
    await execute(
        session,
        insert(OutboundMessage)
        .values(
            turn_id=turn_id,
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            kind=kind,
            channel=channel,
            text=text,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["turn_id"]),
    )
    await execute(
        session, update(Turn).where(Turn.id == turn_id).values(status="replying", **(usage or {}))
    )


async def pending_send(session: AsyncSession, turn_id: int) -> PendingSend:
    row = (
        await execute(
            session,
            select(
                OutboundMessage.id.label("outbound_id"),
                OutboundMessage.status,
                OutboundMessage.kind,
                OutboundMessage.channel,
                OutboundMessage.text,
                Conversation.connection,
                Contact.phone,
                func.extract("epoch", func.now() - OutboundMessage.created_at).label(
                    "waited_seconds"
                ),
                Conversation.campaign,
                Contact.email,
            )
            .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(OutboundMessage.turn_id == turn_id),
        )
    ).one()
    values = dict(row._mapping)
    return PendingSend(**values | {"waited_seconds": float(values["waited_seconds"])})


# The turn's final state by the kind of reply it sent: an answer (also the one that hands the
# conversation to a person), a notice while a person has it, or the fallback of a dead turn.
STATUS_AFTER_SEND = {"reply": "answered", "handoff": "answered", "notice": "human"}


async def finish(session: AsyncSession, turn_id: int, kind: str) -> bool:
    """Close the turn once its reply is sent; False if it was already closed."""
    closed = await execute(
        session,
        update(Turn)
        .where(Turn.id == turn_id, Turn.status.in_(OPEN_TURN_STATES))
        .values(status=STATUS_AFTER_SEND.get(kind, "dead"), answered_at=func.now())
        .returning(Turn.id),
    )
    return closed.scalar_one_or_none() is not None


async def recipient(session: AsyncSession, conversation_id: int) -> tuple[str, str | None]:
    """(connection, phone) a message to this conversation goes to."""
    row = (
        await execute(
            session,
            select(Conversation.connection, Contact.phone)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id == conversation_id),
        )
    ).one()
    return row.connection, row.phone


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    state: str  # bot, or human while a person has the conversation (the bot only listens)
    connection: str


async def conversation_info(session: AsyncSession, conversation_id: int) -> ConversationInfo:
    row = (
        await execute(
            session,
            select(Conversation.state, Conversation.connection).where(
                Conversation.id == conversation_id
            ),
        )
    ).one()
    return ConversationInfo(row.state, row.connection)
