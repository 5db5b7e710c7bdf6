"""Finding a conversation's open turn, or opening one that holds every waiting message.

The statements are written once, as SQL run straight on asyncpg (no statement building per
turn), in an autocommit session; each is one round trip that needs no transaction of its own:
opening a turn locks the waiting messages, inserts the turn (only while none is open) and joins
the messages to it in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import fetch, fetchrow
from services.core.models import OPEN_TURN_STATES

from .store import TurnRef

# Each statement takes the conversation as $1 and the open turn states (OPEN_TURN_STATES) as $2.
_OPEN_TURN = """
    SELECT id, tenant_id, conversation_id, status, attempts, correlation_id, created_at
    FROM turns WHERE conversation_id = $1 AND status = ANY($2::text[])
    ORDER BY id LIMIT 1"""
_NEXT = """
    SELECT open.*, EXISTS (
        SELECT FROM inbound_messages WHERE conversation_id = $1 AND turn_id IS NULL
    ) AS waiting
    FROM (SELECT) AS one LEFT JOIN LATERAL (
        SELECT id, tenant_id, conversation_id, status, attempts, correlation_id, created_at
        FROM turns WHERE conversation_id = $1 AND status = ANY($2::text[])
        ORDER BY id LIMIT 1
    ) AS open ON true"""
# The tenant is $3.
_START = """
    WITH waiting AS (
        SELECT id, correlation_id FROM inbound_messages
        WHERE conversation_id = $1 AND turn_id IS NULL
        ORDER BY id FOR UPDATE SKIP LOCKED
    ), turn AS (
        INSERT INTO turns (tenant_id, conversation_id, status, attempts, correlation_id)
        SELECT $3, $1, 'pending', 0,
               (SELECT correlation_id FROM waiting ORDER BY id DESC LIMIT 1)
        WHERE EXISTS (SELECT FROM waiting) AND NOT EXISTS (
            SELECT FROM turns WHERE conversation_id = $1 AND status = ANY($2::text[])
        )
        RETURNING id, tenant_id, conversation_id, status, attempts, correlation_id, created_at
    ), joined AS (
        UPDATE inbound_messages SET turn_id = turn.id FROM turn
        WHERE inbound_messages.id IN (SELECT id FROM waiting)
        RETURNING inbound_messages.id AS message_id, inbound_messages.payload,
                  inbound_messages.text
    )
    SELECT turn.*, joined.payload, joined.text FROM turn, joined ORDER BY joined.message_id"""
_OPEN_STATES = list(OPEN_TURN_STATES)


def _turn(row: Any) -> TurnRef:
    return TurnRef(
        row["id"],
        row["tenant_id"],
        row["conversation_id"],
        row["status"],
        row["attempts"],
        row["correlation_id"],
        row["created_at"],
    )


async def open_turn(session: AsyncSession, conversation_id: int) -> TurnRef | None:
    row = await fetchrow(session, _OPEN_TURN, conversation_id, _OPEN_STATES)
    return _turn(row) if row else None


async def next_turn(session: AsyncSession, conversation_id: int) -> TurnRef | bool:
    """The conversation's open turn; else whether messages wait for one (one round trip)."""
    row = await fetchrow(session, _NEXT, conversation_id, _OPEN_STATES)
    assert row is not None  # one row, always
    return _turn(row) if row["id"] is not None else bool(row["waiting"])


@dataclass(frozen=True, slots=True)
class Started:
    """A new turn, with what its messages carried (for campaign attribution)."""

    turn: TurnRef
    payloads: list[dict[str, Any] | None]
    texts: list[str | None]


async def start_turn(session: AsyncSession, tenant_id: int, conversation_id: int) -> Started | None:
    """A new turn holding every unanswered message of the conversation; None when none waits
    or a turn is open."""
    rows = await fetch(session, _START, conversation_id, _OPEN_STATES, tenant_id)
    if not rows:
        return None
    return Started(_turn(rows[0]), [r["payload"] for r in rows], [r["text"] for r in rows])
