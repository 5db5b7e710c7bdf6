"""The conversation's owner, bot or person, as rows: every change in the caller's transaction.

A handoff makes the conversation ``human``: from then on the bot only records what the customer
says (turns in state ``human``) until a resume rule gives it back (``resume``). The callers
own the transaction; jobs that follow (the ticket transfer) are enqueued after it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import events
from services.core.db import execute
from services.core.llm.types import ChatMessage
from services.core.logging import get_logger
from services.core.metrics import HANDOFF_RESUMES, HANDOFFS
from services.core.models import ACTIVE_HANDOFF_STATES, Contact, Conversation, Handoff
from services.core.models.handoff import ACTIVE_HANDOFF_PREDICATE
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType

from .summary import build_summary

log = get_logger(__name__)


async def request_handoff(
    session: AsyncSession,
    tenant: TenantConfig,
    *,
    conversation_id: int,
    turn_id: int | None,
    trigger: str,
    reason: str,
    summary: dict[str, Any],
    human_seen_at: datetime | None = None,
) -> int | None:
    """Hand the conversation to a person; the new handoff's id, or None when one is already
    active (asking twice changes nothing). A person who already answered on their own
    (``human_seen_at``) has the ticket: there is nothing to transfer."""
    taken = human_seen_at is not None
    created = await execute(
        session,
        insert(Handoff)
        .values(
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            turn_id=turn_id,
            trigger=trigger,
            reason=reason[:500],
            summary=summary,
            status="transferred" if taken else "requested",
            transferred_at=human_seen_at,
            attempts=0,
            human_seen_at=human_seen_at,
        )
        .on_conflict_do_nothing(
            index_elements=["conversation_id"],
            index_where=ACTIVE_HANDOFF_PREDICATE,
        )
        .returning(Handoff.id),
    )
    handoff_id: int | None = created.scalar_one_or_none()
    await execute(
        session,
        update(Conversation).where(Conversation.id == conversation_id).values(state="human"),
    )
    if handoff_id is not None:
        await events.emit(
            session,
            tenant,
            EventType.HANDOFF_REQUESTED,
            {
                "handoff_id": handoff_id,
                "conversation_id": conversation_id,
                "turn_id": turn_id,
                "trigger": str(trigger),
                "reason": reason[:500],
                "summary": summary,
            },
        )
        HANDOFFS.labels(tenant.slug, trigger).inc()
        log.info(
            "handoff.requested",
            tenant=tenant.slug,
            conversation_id=conversation_id,
            handoff_id=handoff_id,
            trigger=trigger,
        )
    return handoff_id


async def hand_over_turn(
    session: AsyncSession,
    tenant: TenantConfig,
    *,
    conversation_id: int,
    turn_id: int,
    trigger: str,
    reason: str,
    customer_texts: Sequence[str],
    history: Sequence[ChatMessage] = (),
    model_summary: str | None = None,
    knowledge_ids: Sequence[int] = (),
) -> int | None:
    """A turn hands its conversation over, with the packet for the agent."""
    return await request_handoff(
        session,
        tenant,
        conversation_id=conversation_id,
        turn_id=turn_id,
        trigger=trigger,
        reason=reason,
        summary=build_summary(
            trigger=trigger,
            reason=reason,
            model_summary=model_summary,
            history=history,
            customer_texts=customer_texts,
            knowledge_ids=knowledge_ids,
        ),
    )


async def active_handoff(session: AsyncSession, conversation_id: int) -> Handoff | None:
    found: Handoff | None = await session.scalar(
        select(Handoff).where(
            Handoff.conversation_id == conversation_id,
            Handoff.status.in_(ACTIVE_HANDOFF_STATES),
        )
    )
    return found


async def note_human(session: AsyncSession, conversation_id: int, at: datetime) -> bool:
    """A person spoke in the conversation; False when no handoff is active."""
    touched = await execute(
        session,
        update(Handoff)
        .where(
            Handoff.conversation_id == conversation_id,
            Handoff.status.in_(ACTIVE_HANDOFF_STATES),
        )
        .values(human_seen_at=func.greatest(func.coalesce(Handoff.human_seen_at, at), at))
        .returning(Handoff.id),
    )
    return touched.scalar_one_or_none() is not None


async def resume(
    session: AsyncSession, conversation_id: int, *, resolution: str, tenant_slug: str
) -> bool:
    """Give the conversation back to the bot; False when it already had it."""
    resolved = await execute(
        session,
        update(Handoff)
        .where(
            Handoff.conversation_id == conversation_id,
            Handoff.status.in_(ACTIVE_HANDOFF_STATES),
        )
        .values(status="resolved", resolution=resolution, resolved_at=func.now())
        .returning(Handoff.id),
    )
    was_human = await execute(
        session,
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.state == "human")
        .values(state="bot")
        .returning(Conversation.id),
    )
    changed = (
        resolved.scalar_one_or_none() is not None or was_human.scalar_one_or_none() is not None
    )
    if changed:
        HANDOFF_RESUMES.labels(tenant_slug, resolution).inc()
        log.info("handoff.resolved", conversation_id=conversation_id, resolution=resolution)
    return changed


async def list_handoffs(session: AsyncSession, *, active_only: bool) -> list[Handoff]:
    query = select(Handoff).order_by(Handoff.id.desc()).limit(200)
    if active_only:
        query = query.where(Handoff.status.in_(ACTIVE_HANDOFF_STATES))
    return list(await session.scalars(query))


async def resume_contact(
    session: AsyncSession, tenant_id: int, tenant_slug: str, phone: str
) -> int:
    """The explicit command: give every conversation of this contact back to the bot; how
    many were with a person."""
    conversations = await session.scalars(
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.tenant_id == tenant_id, Contact.phone == phone)
    )
    resumed = 0
    for conversation_id in list(conversations):
        resumed += await resume(
            session, conversation_id, resolution="command", tenant_slug=tenant_slug
        )
    return resumed
