"""What the panel shows of conversations: a searchable list and the full thread.

Read-only. Every query takes the caller's tenant scope (``None`` = all tenants, else the ids it
may see), so a tenant's user cannot reach another tenant's rows by guessing ids. Search terms
are bound parameters, never SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import (
    ACTIVE_HANDOFF_STATES,
    Contact,
    Conversation,
    Handoff,
    InboundMessage,
    KnowledgeEntry,
    OutboundMessage,
    Tenant,
    Turn,
)

PAGE = 50


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    tenant_id: int
    tenant: str
    phone: str | None
    name: str | None
    connection: str
    state: str
    last_inbound_at: datetime | None


@dataclass(frozen=True, slots=True)
class ThreadItem:
    at: datetime
    role: str  # customer | bot | event
    text: str
    kind: str = "text"  # inbound kind, or the reply kind (reply, handoff, fallback, notice)
    model: str | None = None
    knowledge: list[str] = field(default_factory=list)  # the questions of the snippets used
    status: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    conversation: ConversationRow
    items: list[ThreadItem]
    handoffs: list[dict[str, Any]]


def escape_like(term: str) -> str:
    """``term`` matched literally inside a LIKE pattern (``\\`` is the escape character)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _rows() -> Any:
    return (
        select(
            Conversation.id,
            Conversation.tenant_id,
            Tenant.slug.label("tenant"),
            Contact.phone,
            Contact.name,
            Conversation.connection,
            Conversation.state,
            Conversation.last_inbound_at,
        )
        .join(Tenant, Tenant.id == Conversation.tenant_id)
        .join(Contact, Contact.id == Conversation.contact_id)
    )


async def list_conversations(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    state: str | None = None,
    search: str | None = None,
    limit: int = PAGE,
) -> list[ConversationRow]:
    query = _rows()
    if scope is not None:
        query = query.where(Conversation.tenant_id.in_(list(scope)))
    if state:
        query = query.where(Conversation.state == state)
    if search and search.strip():
        pattern = f"%{escape_like(search.strip())}%"
        said = select(InboundMessage.id).where(
            InboundMessage.conversation_id == Conversation.id,
            InboundMessage.text.ilike(pattern, escape="\\"),
        )
        query = query.where(
            or_(
                Contact.phone.ilike(pattern, escape="\\"),
                Contact.name.ilike(pattern, escape="\\"),
                said.exists(),
            )
        )
    query = query.order_by(Conversation.last_inbound_at.desc().nulls_last()).limit(limit)
    return [ConversationRow(**row._mapping) for row in await session.execute(query)]


async def conversation_detail(
    session: AsyncSession, conversation_id: int, *, scope: Collection[int] | None
) -> ConversationDetail | None:
    """None when it does not exist *or* is outside the scope (the same answer for both)."""
    query = _rows().where(Conversation.id == conversation_id)
    if scope is not None:
        query = query.where(Conversation.tenant_id.in_(list(scope)))
    found = (await session.execute(query)).one_or_none()
    if found is None:
        return None
    conversation = ConversationRow(**found._mapping)
    inbound = await session.execute(
        select(InboundMessage.received_at, InboundMessage.text, InboundMessage.kind)
        .where(InboundMessage.conversation_id == conversation_id)
        .order_by(InboundMessage.id.desc())
        .limit(200)
    )
    items = [ThreadItem(at, "customer", text, kind) for at, text, kind in inbound.all()]
    replies = await session.execute(
        select(
            OutboundMessage.created_at,
            OutboundMessage.text,
            OutboundMessage.kind,
            OutboundMessage.status,
            Turn.model,
            Turn.knowledge_ids,
        )
        .outerjoin(Turn, Turn.id == OutboundMessage.turn_id)  # a workflow's message has none
        .where(OutboundMessage.conversation_id == conversation_id)
        .order_by(OutboundMessage.id.desc())
        .limit(200)
    )
    rows = replies.all()
    ids = {i for row in rows for i in (row.knowledge_ids or [])}
    questions: dict[int, str] = {}
    if ids:
        found_entries = await session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.question).where(KnowledgeEntry.id.in_(ids))
        )
        questions = {entry_id: question for entry_id, question in found_entries.all()}
    items += [
        ThreadItem(
            row.created_at,
            "bot",
            row.text,
            row.kind,
            row.model,
            [questions.get(i, f"#{i} (no longer in the base)") for i in row.knowledge_ids or []],
            row.status,
        )
        for row in rows
    ]
    handoff_rows = list(
        await session.scalars(
            select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id)
        )
    )
    for handoff in handoff_rows:
        items.append(ThreadItem(handoff.created_at, "event", f"handoff: {handoff.trigger}"))
        if handoff.resolved_at is not None:
            back = f"bot back: {handoff.resolution}"
            items.append(ThreadItem(handoff.resolved_at, "event", back))
    items.sort(key=lambda item: item.at)
    handoffs = [
        {
            "id": h.id,
            "trigger": h.trigger,
            "status": h.status,
            "ticket_id": h.ticket_id,
            "summary": h.summary,
            "sla_breached": h.sla_breached_at is not None,
            # handed over, and no person has answered yet
            "waiting": h.status in ACTIVE_HANDOFF_STATES and h.human_seen_at is None,
            "at": h.created_at,
            # the note for the agent (handoff/note.py): status None while it is being written
            "note": {
                "text": h.note_text,
                "source": h.note_source,
                "status": h.note_status,
                "detail": h.note_detail,
                "posted_at": h.note_posted_at,
            },
        }
        for h in handoff_rows
    ]
    return ConversationDetail(conversation, items, handoffs)


async def conversation_connection(session: AsyncSession, conversation_id: int) -> str:
    """The connection a conversation came in on (which ticket plan closing it needs)."""
    return str(
        await session.scalar(
            select(Conversation.connection).where(Conversation.id == conversation_id)
        )
    )


async def conversation_tenant(
    session: AsyncSession, conversation_id: int, *, scope: Collection[int] | None
) -> int | None:
    """The tenant of a conversation the caller may see; None otherwise (missing or not theirs)."""
    query = select(Conversation.tenant_id).where(Conversation.id == conversation_id)
    if scope is not None:
        query = query.where(Conversation.tenant_id.in_(list(scope)))
    tenant_id: int | None = await session.scalar(query)
    return tenant_id
