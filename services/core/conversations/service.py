"""Conversations: the thread a turn belongs to, and the lease that serializes its turns."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import execute, fetch, fetchrow
from services.core.models import Contact, Conversation


async def touch_conversation(
    session: AsyncSession, tenant_id: int, contact_id: int, connection: str
) -> int:
    stmt = insert(Conversation).values(
        tenant_id=tenant_id,
        contact_id=contact_id,
        connection=connection,
        state="bot",
        last_inbound_at=func.now(),
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "contact_id", "connection"],
        set_={"last_inbound_at": func.now(), "updated_at": func.now()},
    ).returning(Conversation.id)
    conversation_id: int = (await execute(session, upsert)).scalar_one()
    return conversation_id


async def acquire_lease(
    session: AsyncSession, conversation_id: int, owner: str, seconds: float
) -> bool:
    """Take the conversation for one job; a crashed holder's lease simply expires. One
    statement, in an :func:`~services.core.db.autocommit` session (as :func:`release_lease`)."""
    row = await fetchrow(
        session,
        """
        UPDATE conversations
        SET lease_owner = $2, lease_until = now() + make_interval(secs => $3), updated_at = now()
        WHERE id = $1 AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
        RETURNING id""",
        conversation_id,
        owner,
        float(seconds),
    )
    return row is not None


async def release_lease(session: AsyncSession, conversation_id: int, owner: str) -> None:
    await fetch(
        session,
        """
        UPDATE conversations SET lease_owner = NULL, lease_until = NULL, updated_at = now()
        WHERE id = $1 AND lease_owner = $2""",
        conversation_id,
        owner,
    )


async def latest_conversation(session: AsyncSession, tenant_id: int, phone: str) -> int | None:
    """The conversation a message to this phone joins: the one the customer last wrote in."""
    conversation_id: int | None = await session.scalar(
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.tenant_id == tenant_id, Contact.phone == phone)
        .order_by(Conversation.last_inbound_at.desc().nulls_last(), Conversation.id.desc())
        .limit(1)
    )
    return conversation_id
