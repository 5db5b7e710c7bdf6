"""What the tenant page plots, in the tenant's own calendar (``spec.businessHours.timezone``):
messages by weekday and hour over four weeks, conversations answered by the bot or handed to a
person per day, the first-reply time per day, and the month's token use against the budget.

Every statement names its tenants in its ``WHERE`` clause (``tenant_ids`` is never "all") and
reads a bounded window through ``ix_inbound_messages_tenant_received`` (messages) and
``ix_handoffs_tenant_created`` (handoffs); turns are reached by their primary key.

The first-reply time of a day is, for each conversation with messages that day, the time from
its first customer message of the day to the moment the bot's reply to that message was sent
(the turn that took the message was answered); messages the bot did not answer (handed off,
outside its work, failed) are not in it.
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Handoff, InboundMessage, LlmUsage, Turn

HEATMAP_DAYS = 28  # four whole weeks: every weekday and hour has four samples
DAILY_DAYS = 14
DEFAULT_TIMEZONE = "America/Sao_Paulo"  # a view over several tenants uses the platform's


def zone(name: str | None) -> str:
    """A timezone Postgres and Python both know; an unknown one means the default."""
    try:
        ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return DEFAULT_TIMEZONE
    return name or DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class Heatmap:
    counts: list[list[int]]  # [weekday 0 = Monday][hour 0..23]
    since: date  # the first local day counted
    days: int

    @property
    def peak(self) -> int:
        return max((max(row) for row in self.counts), default=0)

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts)


@dataclass(frozen=True, slots=True)
class DayOutcome:
    day: date
    answered: int  # conversations the bot answered and no person took that day
    handed_off: int  # conversations handed to a person that day


@dataclass(frozen=True, slots=True)
class ReplyTime:
    day: date
    conversations: int  # first messages answered by the bot that day
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True, slots=True)
class BudgetUse:
    tenant_id: int
    used: int
    budget: int | None  # None: unlimited
    month: date  # first day, local
    days_elapsed: float  # since the month began, local (0 < … <= days_in_month)
    days_in_month: int

    @property
    def projected(self) -> int:
        """The month's use at this pace."""
        return round(self.used / self.days_elapsed * self.days_in_month)

    @property
    def ratio(self) -> float | None:
        return None if not self.budget else self.used / self.budget


@dataclass(frozen=True, slots=True)
class BudgetTenant:
    """A tenant's budget as its spec says, passed in (stats reads no spec)."""

    tenant_id: int
    timezone: str
    budget: int | None


def _local_midnight(now: datetime, tz: str, days_back: int) -> tuple[date, datetime]:
    local = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=days_back)
    return local, datetime.combine(local, time(), ZoneInfo(tz)).astimezone(UTC)


def _local(column: Any, tz: str) -> Any:
    return func.timezone(tz, column)


def _day(column: Any, tz: str) -> Any:
    return func.date(_local(column, tz))


def _ids(tenant_ids: Collection[int]) -> list[int]:
    ids = sorted(set(tenant_ids))
    if not ids:
        raise ValueError("no tenant to chart")
    return ids


async def message_heatmap(
    session: AsyncSession, *, tenant_ids: Collection[int], tz: str, now: datetime
) -> Heatmap:
    first, since = _local_midnight(now, tz, HEATMAP_DAYS - 1)
    local = _local(InboundMessage.received_at, tz)
    weekday = func.extract("isodow", local)
    hour = func.extract("hour", local)
    rows = await session.execute(
        select(weekday, hour, func.count())
        .where(InboundMessage.tenant_id.in_(_ids(tenant_ids)), InboundMessage.received_at >= since)
        .group_by(weekday, hour)
    )
    counts = [[0] * 24 for _ in range(7)]
    for dow, hr, n in rows.all():
        counts[int(dow) - 1][int(hr)] = int(n)
    return Heatmap(counts, first, HEATMAP_DAYS)


def _days(now: datetime, tz: str) -> tuple[list[date], datetime]:
    first, since = _local_midnight(now, tz, DAILY_DAYS - 1)
    return [first + timedelta(days=i) for i in range(DAILY_DAYS)], since


async def daily_outcomes(
    session: AsyncSession, *, tenant_ids: Collection[int], tz: str, now: datetime
) -> list[DayOutcome]:
    """Per local day, the conversations with customer messages: handed to a person (a handoff
    began that day) or answered by the bot only."""
    ids = _ids(tenant_ids)
    days, since = _days(now, tz)
    msg_day = _day(InboundMessage.received_at, tz).label("day")
    talked = (
        select(
            msg_day,
            InboundMessage.conversation_id.label("conversation_id"),
            func.bool_or(Turn.status == "answered").label("answered"),
        )
        .select_from(InboundMessage)
        .outerjoin(Turn, and_(Turn.id == InboundMessage.turn_id, Turn.tenant_id.in_(ids)))
        .where(InboundMessage.tenant_id.in_(ids), InboundMessage.received_at >= since)
        .group_by(msg_day, InboundMessage.conversation_id)
        .cte("talked")
    )
    handed = (
        select(
            _day(Handoff.created_at, tz).label("day"),
            Handoff.conversation_id.label("conversation_id"),
        )
        .where(Handoff.tenant_id.in_(ids), Handoff.created_at >= since)
        .distinct()
        .cte("handed")
    )
    joined = talked.outerjoin(
        handed,
        and_(handed.c.day == talked.c.day, handed.c.conversation_id == talked.c.conversation_id),
    )
    rows = await session.execute(
        select(
            talked.c.day,
            func.count().filter(handed.c.conversation_id.is_not(None)),
            func.count().filter(and_(handed.c.conversation_id.is_(None), talked.c.answered)),
        )
        .select_from(joined)
        .group_by(talked.c.day)
    )
    found = {day: (int(h), int(a)) for day, h, a in rows.all()}
    return [DayOutcome(d, found.get(d, (0, 0))[1], found.get(d, (0, 0))[0]) for d in days]


async def first_reply_times(
    session: AsyncSession, *, tenant_ids: Collection[int], tz: str, now: datetime
) -> list[ReplyTime]:
    ids = _ids(tenant_ids)
    days, since = _days(now, tz)
    msg_day = _day(InboundMessage.received_at, tz).label("day")
    firsts = (
        select(msg_day, InboundMessage.received_at, InboundMessage.turn_id)
        .where(InboundMessage.tenant_id.in_(ids), InboundMessage.received_at >= since)
        .ext(distinct_on(InboundMessage.conversation_id, msg_day))
        .order_by(InboundMessage.conversation_id, msg_day, InboundMessage.received_at)
        .cte("firsts")
    )
    wait = func.extract("epoch", Turn.answered_at - firsts.c.received_at)
    rows = await session.execute(
        select(
            firsts.c.day,
            func.count(),
            func.percentile_cont(0.5).within_group(wait),
            func.percentile_cont(0.9).within_group(wait),
        )
        .select_from(firsts)
        .join(Turn, and_(Turn.id == firsts.c.turn_id, Turn.tenant_id.in_(ids)))
        .where(Turn.status == "answered", Turn.answered_at.is_not(None))
        .group_by(firsts.c.day)
    )
    found = {day: ReplyTime(day, int(n), p50, p90) for day, n, p50, p90 in rows.all()}
    return [found.get(d, ReplyTime(d, 0, None, None)) for d in days]


def _month(now: datetime, tz: str) -> tuple[date, float, int]:
    local = now.astimezone(ZoneInfo(tz))
    first = local.date().replace(day=1)
    start = datetime.combine(first, time(), ZoneInfo(tz))
    elapsed = max((local - start).total_seconds() / 86400, 1 / 24)  # an hour at least
    return first, elapsed, calendar.monthrange(first.year, first.month)[1]


async def budget_use(
    session: AsyncSession, *, tenants: Sequence[BudgetTenant], now: datetime
) -> list[BudgetUse]:
    """This month's tokens of each tenant (its own month, in its own timezone)."""
    months = {t.tenant_id: _month(now, zone(t.timezone)) for t in tenants}
    if not months:
        return []
    rows = await session.execute(
        select(LlmUsage.tenant_id, LlmUsage.prompt_tokens + LlmUsage.output_tokens).where(
            tuple_(LlmUsage.tenant_id, LlmUsage.month).in_(
                [(tenant_id, month[0]) for tenant_id, month in months.items()]
            )
        )
    )
    used = {tenant_id: int(n) for tenant_id, n in rows.all()}
    return [
        BudgetUse(t.tenant_id, used.get(t.tenant_id, 0), t.budget, *months[t.tenant_id])
        for t in tenants
    ]
