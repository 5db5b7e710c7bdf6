"""Dead letters: turns that could not complete, kept with their context, replayable.

A replay never reuses an arq job id (arq would swallow it as a duplicate) and is idempotent: a
dead letter that was already replayed is not replayed again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events
from services.core.errors import InvalidInput, NotFound
from services.core.models import DeadLetter, InboundMessage, Turn
from services.core.outbound import records
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType


async def record_dead_letter(
    session: AsyncSession,
    tenant: TenantConfig,
    turn: Turn,
    *,
    stage: str,
    error_class: str,
    error: str,
    attempts: int,
    context: dict[str, Any],
) -> DeadLetter:
    letter = DeadLetter(
        tenant_id=turn.tenant_id,
        turn_id=turn.id,
        stage=stage,
        error_class=error_class,
        error=error[:2000],
        attempts=attempts,
        context=context,
        status="open",
    )
    session.add(letter)
    await session.flush()
    await events.emit(
        session,
        tenant,
        EventType.DLQ_ADDED,
        {
            "dead_letter_id": letter.id,
            "turn_id": turn.id,
            "conversation_id": turn.conversation_id,
            "stage": stage,
            "error_class": error_class,
            "attempts": attempts,
        },
    )
    return letter


async def list_dead_letters(
    session: AsyncSession,
    *,
    status: str | None = "open",
    limit: int = 100,
    scope: Collection[int] | None = None,
) -> list[DeadLetter]:
    """Newest first; ``scope`` limits them to these tenant ids (None: every tenant)."""
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(DeadLetter.status == status)
    if scope is not None:
        stmt = stmt.where(DeadLetter.tenant_id.in_(list(scope)))
    return list(await session.scalars(stmt))


@dataclass(frozen=True, slots=True)
class Replay:
    dead_letter_id: int
    inbound_id: int  # the message whose job runs the replayed work


async def replay(session: AsyncSession, dead_letter_id: int) -> Replay:
    """Put the failed work back in the pipeline; the caller enqueues after commit."""
    letter = await session.get(DeadLetter, dead_letter_id, with_for_update=True)
    if letter is None:
        raise NotFound(f"dead letter {dead_letter_id} not found")
    if letter.status != "open":
        raise InvalidInput(f"dead letter {dead_letter_id} is {letter.status}, not open")
    turn = await session.get(Turn, letter.turn_id, with_for_update=True)
    assert turn is not None
    first_message = await session.scalar(
        select(func.min(InboundMessage.id)).where(InboundMessage.turn_id == turn.id)
    )
    if first_message is None:
        raise InvalidInput(f"dead letter {dead_letter_id} has no message to replay")
    if letter.stage == "send":
        # The reply text is kept: the replay sends it, it does not generate another.
        await records.reset_for_replay(session, turn.id)
        turn.status = "replying"
    else:
        # The customer got the fallback; give the messages to a new turn for a real answer.
        await session.execute(
            update(InboundMessage).where(InboundMessage.turn_id == turn.id).values(turn_id=None)
        )
    letter.status = "replayed"
    letter.resolved_at = func.now()
    await session.flush()
    return Replay(dead_letter_id, first_message)


async def discard(session: AsyncSession, dead_letter_id: int, *, reason: str) -> DeadLetter:
    """Close a dead letter without replaying it; the reason is kept on the row."""
    letter = await session.get(DeadLetter, dead_letter_id, with_for_update=True)
    if letter is None:
        raise NotFound(f"dead letter {dead_letter_id} not found")
    if letter.status != "open":
        raise InvalidInput(f"dead letter {dead_letter_id} is {letter.status}, not open")
    if not reason.strip():
        raise InvalidInput("a reason is required to discard a dead letter")
    letter.status = "discarded"
    letter.resolved_at = func.now()
    letter.context = {**letter.context, "discard_reason": reason.strip()[:500]}
    await session.flush()
    return letter
