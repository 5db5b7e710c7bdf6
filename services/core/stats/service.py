"""Where the last week's conversations came from, read from the record (Postgres), for the
tenants page (its charts are :mod:`.charts`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Conversation, Handoff, Tenant, Turn

CAMPAIGN_DAYS = 7


@dataclass(frozen=True, slots=True)
class CampaignRow:
    tenant: str
    connection: str
    campaign: str  # a declared name, "ad" (an ad no campaign claims) or "none"
    conversations: int  # with a turn in the window
    turns: int
    handoffs: int


async def campaign_breakdown(
    session: AsyncSession, *, scope: Collection[int] | None, now: datetime | None = None
) -> list[CampaignRow]:
    """Conversations, turns and handoffs of the last week by connection and campaign."""
    since = (now or datetime.now(UTC)) - timedelta(days=CAMPAIGN_DAYS)
    campaign = func.coalesce(Conversation.campaign, "none")
    turns = func.count(func.distinct(Turn.id))
    query = (
        select(
            Tenant.slug,
            Conversation.connection,
            campaign,
            func.count(func.distinct(Conversation.id)),
            turns,
            func.count(func.distinct(Handoff.id)),
        )
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .join(Tenant, Tenant.id == Turn.tenant_id)
        .outerjoin(Handoff, Handoff.turn_id == Turn.id)
        .where(Turn.created_at >= since)
        .group_by(Tenant.slug, Conversation.connection, campaign)
        .order_by(Tenant.slug, turns.desc())
    )
    if scope is not None:
        query = query.where(Turn.tenant_id.in_(list(scope)))
    rows = await session.execute(query)
    return [CampaignRow(*row) for row in rows.all()]
