"""Every change of a stored message's status, in one place: its send status and what the
channel reports after the send.

A message to a customer (a turn's reply or a workflow's message) is an ``outbound_messages`` row
that moves ``pending → sending → sent``; a failed attempt moves it back to ``pending`` for a
retry, or ends it ``failed`` (surely not delivered) or ``unknown`` (it may have been). Each
function is one statement whose ``WHERE`` clause is the transition it makes, so two jobs that
race see one of them win.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import execute, fetchrow
from services.core.models import OutboundMessage

from .delivery import provider_message_id


async def claim(
    session: AsyncSession, outbound_id: int, *, stale_after: float | None
) -> int | None:
    """Mark the attempt before the request leaves (a crash after it is an ambiguous send); the
    attempts so far, or None when another job holds the message or it is done.

    ``stale_after`` None: the caller holds the conversation's lease, so no other job is sending
    it. Otherwise only a pending message, or one whose claim is older than ``stale_after``
    seconds (its job died), is claimed. One statement, in an
    :func:`~services.core.db.autocommit` session.
    """
    row = await fetchrow(
        session,
        """
        UPDATE outbound_messages
        SET status = 'sending', attempts = attempts + 1, updated_at = now()
        WHERE id = $1 AND ($2::float8 IS NULL OR status = 'pending'
              OR (status = 'sending' AND updated_at < now() - make_interval(secs => $2)))
        RETURNING attempts""",
        outbound_id,
        stale_after,
    )
    return row["attempts"] if row is not None else None


async def mark_sent(
    session: AsyncSession, outbound_id: int, response: dict[str, Any] | None
) -> None:
    """The channel accepted it; its answer is kept as evidence, with the id statuses name."""
    await execute(
        session,
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id)
        .values(
            status="sent",
            sent_at=func.now(),
            provider_response=response,
            provider_message_id=provider_message_id(response),
        ),
    )


def status_after_failure(*, retry: bool, ambiguous: bool) -> str:
    """``pending`` for another try; given up, ``unknown`` when the outcome could not be known
    (it may have been delivered), else ``failed``."""
    if retry:
        return "pending"
    return "unknown" if ambiguous else "failed"


async def mark_unsent(
    session: AsyncSession, outbound_id: int, *, status: str, error_class: str
) -> None:
    """A failed attempt: back to ``pending`` for a retry, or ended ``failed``/``unknown``."""
    await execute(
        session,
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id)
        .values(status=status, last_error=error_class),
    )


async def give_up(session: AsyncSession, outbound_id: int, error_class: str) -> None:
    """Nothing was tried and nothing will be: ``failed``, unless it went out meanwhile."""
    await execute(
        session,
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.status != "sent")
        .values(status="failed", last_error=error_class),
    )


async def switch_channel(
    session: AsyncSession, outbound_id: int, channel: str, reason: str
) -> bool:
    """Move a Whaticket message to a fallback channel, its attempts counted afresh; False if it
    had already moved (another job got there first)."""
    moved = await execute(
        session,
        update(OutboundMessage)
        .where(OutboundMessage.id == outbound_id, OutboundMessage.channel == "whaticket")
        .values(channel=channel, status="pending", attempts=0, last_error=reason)
        .returning(OutboundMessage.id),
    )
    return moved.scalar_one_or_none() is not None


async def reset_for_replay(session: AsyncSession, turn_id: int) -> None:
    """A dead letter's reply goes out again, as a new first attempt (the text is kept)."""
    await execute(
        session,
        update(OutboundMessage)
        .where(OutboundMessage.turn_id == turn_id)
        .values(status="pending", attempts=0),
    )


async def advance_delivery(
    session: AsyncSession, tenant_id: int, provider_message_id: str, status: str, behind: list[str]
) -> int | None:
    """What the channel reports after the send (delivered, read…), only ever forward: the
    message's id when it moved, None when it is unknown or already further."""
    moved = await execute(
        session,
        update(OutboundMessage)
        .where(
            OutboundMessage.tenant_id == tenant_id,
            OutboundMessage.provider_message_id == provider_message_id,
            OutboundMessage.delivery_status.is_(None) | OutboundMessage.delivery_status.in_(behind),
        )
        .values(delivery_status=status)
        .returning(OutboundMessage.id),
    )
    changed: int | None = moved.scalar_one_or_none()
    return changed
