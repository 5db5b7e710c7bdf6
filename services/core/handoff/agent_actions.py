"""What a person may do to a conversation, whichever door they come through: the tenant's
workflows (the action API, with an action key) and the panel's agents and supervisors (signed in,
role checked by the caller). One function per action, so both doors change the same rows the same
way and leave the same audit row; only the actor (and, for a handoff, the trigger) differs.

Each function works in the caller's transaction; the ``queue_…`` functions run after its commit
(a rolled-back action never gets a job; a lost enqueue is re-done by the watcher, or the caller is
told to repeat a close, which is harmless).
"""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.audit.service import record
from services.core.conversations.queries import conversation_connection
from services.core.models import Conversation
from services.core.tenants.directory import TenantConfig

from . import closing
from .service import request_handoff, resume
from .summary import build_summary
from .triggers import Trigger


@dataclass(frozen=True, slots=True)
class Closed:
    was_with_a_person: bool
    ticket: closing.TicketPlan


async def _audit(
    session: AsyncSession,
    tenant: TenantConfig,
    actor: str,
    done: str,
    conversation_id: int,
    **details: object,
) -> None:
    """Who did what to which conversation (never what was said)."""
    await record(
        session,
        actor=actor,
        action=f"conversation.{done}",
        tenant_id=tenant.id,
        details={"conversation_id": conversation_id, **details},
    )


async def hand_off(
    session: AsyncSession,
    tenant: TenantConfig,
    conversation_id: int,
    *,
    actor: str,
    trigger: Trigger,
    reason: str,
    summary: str | None = None,
) -> int | None:
    """Hand the conversation to a person; the new handoff's id, or None when a person already
    has it (asking twice changes nothing)."""
    handoff_id = await request_handoff(
        session,
        tenant,
        conversation_id=conversation_id,
        turn_id=None,
        trigger=trigger,
        reason=reason,
        summary=build_summary(
            trigger=trigger,
            reason=reason,
            model_summary=summary,
            history=(),
            customer_texts=(),
        ),
    )
    await _audit(session, tenant, actor, "handed_off", conversation_id, handoff_id=handoff_id)
    return handoff_id


async def queue_transfer(redis: ArqRedis, handoff_id: int | None) -> None:
    """After the commit: move the ticket (the watcher re-does a lost enqueue)."""
    if handoff_id is not None:
        await jobs.enqueue_handoff(redis, handoff_id)


async def give_back(
    session: AsyncSession, tenant: TenantConfig, conversation_id: int, *, actor: str
) -> int:
    """Give every conversation of this conversation's contact back to the bot (a person is done
    with the customer); how many were with a person."""
    contact = (
        select(Conversation.contact_id)
        .where(Conversation.id == conversation_id, Conversation.tenant_id == tenant.id)
        .scalar_subquery()
    )
    conversations = list(
        await session.scalars(
            select(Conversation.id)
            .where(Conversation.tenant_id == tenant.id, Conversation.contact_id == contact)
            .order_by(Conversation.id)
        )
    )
    resumed = 0
    for each in conversations:
        resumed += await resume(session, each, resolution="command", tenant_slug=tenant.slug)
    await _audit(session, tenant, actor, "given_back", conversation_id, resumed=resumed)
    return resumed


async def close(
    session: AsyncSession, tenant: TenantConfig, conversation_id: int, *, actor: str
) -> Closed:
    """The conversation is done: back to the bot; after the commit, :func:`queue_ticket_close`
    closes the customer's Whaticket ticket as the tenant's agent user."""
    connection = await conversation_connection(session, conversation_id)
    was_human = await closing.close_conversation(session, tenant, conversation_id)
    plan = closing.ticket_plan(tenant, connection)
    await _audit(session, tenant, actor, "closed", conversation_id, ticket=plan)
    return Closed(was_with_a_person=was_human, ticket=plan)


async def queue_ticket_close(redis: ArqRedis, conversation_id: int, closed: Closed) -> bool:
    """After the commit; False when Redis could not take the job (repeat the close)."""
    if closed.ticket != "closing":
        return True
    return await jobs.enqueue_ticket_close(redis, conversation_id)
