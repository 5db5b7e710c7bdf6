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

from sqlalchemy import Executable, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.conversations.messages import MessageRow
from services.core.db import execute, fetch, fetchrow
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


@dataclass(frozen=True, slots=True)
class Origin:
    conversation_id: int
    tenant_id: int
    correlation_id: str
    contact_id: int


async def message_origin(session: AsyncSession, inbound_id: int) -> Origin | None:
    """Where a stored message belongs: its conversation, tenant, correlation id and contact
    (an :func:`~services.core.db.autocommit` session, as every :func:`fetchrow` here)."""
    row = await fetchrow(
        session,
        """
        SELECT m.conversation_id, m.tenant_id, m.correlation_id, c.contact_id
        FROM inbound_messages AS m JOIN conversations AS c ON c.id = m.conversation_id
        WHERE m.id = $1""",
        inbound_id,
    )
    return Origin(**row) if row is not None else None


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
    row = await fetchrow(
        session,
        """
        SELECT o.id AS outbound_id, o.status, o.kind, o.channel, o.text, c.connection,
               k.phone, extract(epoch FROM now() - o.created_at)::float8 AS waited_seconds,
               c.campaign, k.email
        FROM outbound_messages AS o
        JOIN conversations AS c ON c.id = o.conversation_id
        JOIN contacts AS k ON k.id = c.contact_id
        WHERE o.turn_id = $1""",
        turn_id,
    )
    if row is None:
        raise LookupError(f"turn {turn_id} has no stored reply")
    return PendingSend(**row)


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


async def messages_and_info(
    session: AsyncSession, turn: TurnRef
) -> tuple[list[MessageRow], ConversationInfo]:
    """The turn's messages and its conversation's state, in one round trip."""
    rows = await fetch(
        session,
        """
        SELECT c.state, c.connection, m.id, m.kind, m.text, m.received_at
        FROM conversations AS c
        LEFT JOIN inbound_messages AS m ON m.conversation_id = c.id AND m.turn_id = $1
        WHERE c.id = $2
        ORDER BY m.id""",
        turn.id,
        turn.conversation_id,
    )
    messages = [
        MessageRow(r["id"], r["kind"], r["text"], r["received_at"])
        for r in rows
        if r["id"] is not None
    ]
    return messages, ConversationInfo(rows[0]["state"], rows[0]["connection"])


# The lease renewed (while ours, or free) and what storing an answer must know, together.
_RENEW_FOR_ANSWER = text(
    """
    UPDATE conversations
    SET lease_owner = :owner, lease_until = now() + make_interval(secs => :seconds),
        updated_at = now()
    WHERE id = :conversation_id
      AND (lease_until IS NULL OR lease_until < now() OR lease_owner = :owner)
    RETURNING state, connection, (
        SELECT max(id) FROM inbound_messages
        WHERE conversation_id = :conversation_id AND turn_id IS NULL
    ) AS newest_waiting"""
)


@dataclass(frozen=True, slots=True)
class AnswerCheck:
    """At the moment an answer is stored: the conversation as it is, and a message that
    arrived after the turn took its burst (it makes a model's answer stale)."""

    info: ConversationInfo
    newest_waiting: int | None


async def renew_for_answer(
    session: AsyncSession, conversation_id: int, owner: str, seconds: float
) -> AnswerCheck | None:
    """None when the lease is no longer ours."""
    row = (
        await execute(
            session,
            _RENEW_FOR_ANSWER,
            {"conversation_id": conversation_id, "owner": owner, "seconds": float(seconds)},
        )
    ).one_or_none()
    if row is None:
        return None
    return AnswerCheck(ConversationInfo(row.state, row.connection), row.newest_waiting)
