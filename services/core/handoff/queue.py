"""The queue of handoffs waiting for a person: handed over, and no person has answered yet.

Oldest first (who has waited longest is helped first), with what the panel needs to say how
long each has waited and whether its SLA (``spec.handoff.slaMinutes`` of working time, fired by
the watcher into ``sla_breached_at``) was missed. Read-only; limited to the caller's scope in
the SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ACTIVE_HANDOFF_STATES, Contact, Conversation, Handoff, Tenant

LIMIT = 200
DEFAULT_SLA_MINUTES = 15
DEFAULT_TIMEZONE = "America/Sao_Paulo"


@dataclass(frozen=True, slots=True)
class Waiting:
    handoff_id: int
    conversation_id: int
    tenant: str
    timezone: str
    phone: str | None
    name: str | None
    trigger: str
    reason: str
    status: str  # requested | transferred | failed
    since: datetime
    sla_minutes: int
    sla_breached: bool
    waited_seconds: int


async def waiting_handoffs(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    tenant: str = "",
    limit: int = LIMIT,
) -> list[Waiting]:
    query = (
        select(
            Handoff.id.label("handoff_id"),
            Handoff.conversation_id,
            Tenant.slug.label("tenant"),
            func.coalesce(Tenant.spec["businessHours"]["timezone"].astext, DEFAULT_TIMEZONE).label(
                "timezone"
            ),
            Contact.phone,
            Contact.name,
            Handoff.trigger,
            Handoff.reason,
            Handoff.status,
            Handoff.created_at.label("since"),
            Tenant.spec["handoff"]["slaMinutes"].astext.label("sla_minutes"),
            Handoff.sla_breached_at.is_not(None).label("sla_breached"),
            func.extract("epoch", func.now() - Handoff.created_at).label("waited_seconds"),
        )
        .join(Tenant, Tenant.id == Handoff.tenant_id)
        .join(Conversation, Conversation.id == Handoff.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(
            Handoff.status.in_(ACTIVE_HANDOFF_STATES),
            Handoff.human_seen_at.is_(None),
            Conversation.state == "human",
        )
        .order_by(Handoff.created_at, Handoff.id)
        .limit(limit)
    )
    if scope is not None:
        query = query.where(Handoff.tenant_id.in_(list(scope)))
    if tenant:
        query = query.where(Tenant.slug == tenant)
    rows = []
    for row in await session.execute(query):
        values = dict(row._mapping)
        values["sla_minutes"] = int(values["sla_minutes"] or DEFAULT_SLA_MINUTES)
        values["waited_seconds"] = max(0, int(values["waited_seconds"]))
        rows.append(Waiting(**values))
    return rows
