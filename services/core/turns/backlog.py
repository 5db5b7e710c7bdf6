"""What a paused tenant left unanswered, gathered when it resumes.

While a tenant is paused its messages are stored (the webhook answers 200) but no turn starts,
and the sweeper leaves them alone. On resume, per conversation:

* a turn that was waiting for the model (``pending``) is superseded: its messages rejoin the
  conversation's unanswered ones, so the whole backlog is answered as one turn;
* if the newest unanswered message is younger than the tenant's ``contextTtlMinutes``, the
  conversation is queued again and answered once;
* if it is older, the bot does not answer it: the messages are closed in a turn with status
  ``expired`` (counted and listed, never silently lost). A reply hours late, without the
  context it was written in, usually after a human already stepped in, does more harm than good;
* a turn whose reply was already stored (``replying``) is queued again to finish its send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import execute
from services.core.models import InboundMessage, Turn

from . import store

EXPIRED = "expired"


@dataclass(slots=True)
class Backlog:
    queue: list[int] = field(default_factory=list)  # one message id per conversation to enqueue
    expired_conversations: int = 0
    expired_messages: int = 0


async def gather_backlog(
    session: AsyncSession, tenant_id: int, *, context_ttl_minutes: int
) -> Backlog:
    """Prepare a resumed tenant's backlog in the caller's transaction; enqueue ``queue`` after
    it commits."""
    pending = await session.scalars(
        select(Turn.id).where(Turn.tenant_id == tenant_id, Turn.status == "pending")
    )
    for turn_id in list(pending):
        await store.supersede(session, turn_id)
    backlog = Backlog()
    replying = await execute(
        session,
        select(func.min(InboundMessage.id))
        .join(Turn, Turn.id == InboundMessage.turn_id)
        .where(Turn.tenant_id == tenant_id, Turn.status == "replying")
        .group_by(Turn.id),
    )
    backlog.queue += [row[0] for row in replying]
    stale_after = timedelta(minutes=context_ttl_minutes)
    rows = await execute(
        session,
        select(
            InboundMessage.conversation_id,
            func.min(InboundMessage.id).label("first_id"),
            func.max(InboundMessage.correlation_id).label("correlation_id"),
            func.count().label("messages"),
            (func.max(InboundMessage.received_at) < func.now() - stale_after).label("stale"),
        )
        .where(InboundMessage.tenant_id == tenant_id, InboundMessage.turn_id.is_(None))
        .group_by(InboundMessage.conversation_id),
    )
    for row in rows:
        if not row.stale:
            backlog.queue.append(row.first_id)
            continue
        turn_id = (
            await execute(
                session,
                insert(Turn)
                .values(
                    tenant_id=tenant_id,
                    conversation_id=row.conversation_id,
                    status=EXPIRED,
                    attempts=0,
                    correlation_id=row.correlation_id,
                )
                .returning(Turn.id),
            )
        ).scalar_one()
        await execute(
            session,
            update(InboundMessage)
            .where(
                InboundMessage.conversation_id == row.conversation_id,
                InboundMessage.turn_id.is_(None),
            )
            .values(turn_id=turn_id),
        )
        backlog.expired_conversations += 1
        backlog.expired_messages += row.messages
    return backlog
