"""Per-hour series over the last day, read from the record (Postgres), for the panel's charts.

Reply time is measured from the first message of a turn to the moment its reply was stored —
what the customer waits for, model call included.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.core.models import Conversation, Handoff, InboundMessage, Tenant, Turn

HOURS = 24


@dataclass(frozen=True, slots=True)
class Series:
    hours: list[datetime]  # the start of each hour, oldest first
    values: list[float]


@dataclass(frozen=True, slots=True)
class Overview:
    messages: Series
    handoff_rate: Series  # share of turns that handed over, per hour (0..1)
    reply_seconds: Series  # median, per hour


def _hours(now: datetime) -> list[datetime]:
    top = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [top - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def _scoped[Q: Select[Any]](
    query: Q, column: InstrumentedAttribute[int], scope: Collection[int] | None
) -> Q:
    return query if scope is None else query.where(column.in_(list(scope)))


async def overview(
    session: AsyncSession, *, scope: Collection[int] | None, now: datetime | None = None
) -> Overview:
    hours = _hours(now or datetime.now(UTC))
    since = hours[0]
    bucket = func.date_trunc("hour", InboundMessage.received_at)
    messages = await session.execute(
        _scoped(
            select(bucket, func.count()).where(InboundMessage.received_at >= since),
            InboundMessage.tenant_id,
            scope,
        ).group_by(bucket)
    )
    turn_bucket = func.date_trunc("hour", Turn.created_at)
    turns = await session.execute(
        _scoped(
            select(
                turn_bucket,
                func.count(),
                func.percentile_cont(0.5).within_group(
                    func.extract("epoch", Turn.answered_at - Turn.created_at)
                ),
            ).where(Turn.created_at >= since, Turn.answered_at.is_not(None)),
            Turn.tenant_id,
            scope,
        ).group_by(turn_bucket)
    )
    handoff_bucket = func.date_trunc("hour", Handoff.created_at)
    handoffs = await session.execute(
        _scoped(
            select(handoff_bucket, func.count()).where(Handoff.created_at >= since),
            Handoff.tenant_id,
            scope,
        ).group_by(handoff_bucket)
    )
    per_hour = {at: n for at, n in messages.all()}
    turn_rows = {at: (n, median) for at, n, median in turns.all()}
    handed = {at: n for at, n in handoffs.all()}
    return Overview(
        Series(hours, [float(per_hour.get(h, 0)) for h in hours]),
        Series(
            hours,
            [
                min(1.0, handed.get(h, 0) / turn_rows[h][0]) if h in turn_rows else 0.0
                for h in hours
            ],
        ),
        Series(hours, [float(turn_rows[h][1] or 0) if h in turn_rows else 0.0 for h in hours]),
    )


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
