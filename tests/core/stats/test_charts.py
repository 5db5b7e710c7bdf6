"""The tenant page's figures on real Postgres, in the tenant's own calendar: messages by weekday
and hour, conversations answered or handed off per day, first-reply time per day, and the
month's token use; another tenant's rows never count."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import SessionMaker, transaction
from services.core.models import Contact, Conversation, Handoff, InboundMessage, LlmUsage, Turn
from services.core.stats import charts
from tests.core.test_panel_queries import _tenant

NOW = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)  # Friday 12:30 in São Paulo (UTC-3)
SP = "America/Sao_Paulo"


@dataclass
class Feed:
    session: AsyncSession
    tenant_id: int
    n: int = 0

    async def conversation(self) -> int:
        self.n += 1
        contact = Contact(tenant_id=self.tenant_id, phone=f"55119000000{self.n:02d}")
        self.session.add(contact)
        await self.session.flush()
        row = Conversation(tenant_id=self.tenant_id, contact_id=contact.id, connection="main")
        self.session.add(row)
        await self.session.flush()
        return row.id

    async def message(
        self, conversation: int, at: datetime, reply_after: float | None, status: str = "answered"
    ) -> None:
        """A customer message at ``at`` (UTC), its turn answered ``reply_after`` seconds later."""
        self.n += 1
        turn = Turn(
            tenant_id=self.tenant_id, conversation_id=conversation, correlation_id=f"c{self.n}",
            status=status if reply_after is not None else "human",
            answered_at=None if reply_after is None else at + timedelta(seconds=reply_after),
            created_at=at,
        )  # fmt: skip
        self.session.add(turn)
        await self.session.flush()
        self.session.add(
            InboundMessage(
                tenant_id=self.tenant_id, conversation_id=conversation,
                provider_msg_id=f"m{self.n}", kind="text", text="oi", payload={},
                received_at=at, turn_id=turn.id, correlation_id=f"c{self.n}",
            )
        )  # fmt: skip
        await self.session.flush()

    async def handoff(self, conversation: int, at: datetime) -> None:
        self.session.add(
            Handoff(
                tenant_id=self.tenant_id, conversation_id=conversation, trigger="keyword",
                reason="pediu", summary={}, created_at=at,
            )
        )  # fmt: skip
        await self.session.flush()


def utc(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def _traffic(feed: Feed) -> None:
    a, b, c = await feed.conversation(), await feed.conversation(), await feed.conversation()
    await feed.message(a, utc(3, 12, 10), 4)  # Thursday 09:10 local
    await feed.message(a, utc(3, 12, 20), 30)  # not the day's first of A
    await feed.message(b, utc(3, 12, 40), 10)
    await feed.handoff(b, utc(3, 12, 41))
    await feed.message(c, utc(4, 2, 30), 20)  # Thursday 23:30 local, Friday 02:30 UTC
    await feed.message(c, utc(1, 12, 0, month=11), 5)  # five weeks ago: outside every window


@pytest.fixture
async def tenants(clean_db: SessionMaker) -> tuple[int, int]:
    async with transaction(clean_db) as session:
        acme, other = await _tenant(session, "acme"), await _tenant(session, "other")
        await _traffic(Feed(session, acme))
        theirs = Feed(session, other, n=100)
        await _traffic(theirs)
        await theirs.handoff(await theirs.conversation(), utc(3, 13))
        session.add(LlmUsage(tenant_id=acme, month=date(2026, 12, 1), prompt_tokens=1000,
                             output_tokens=500))  # fmt: skip
        session.add(LlmUsage(tenant_id=acme, month=date(2026, 11, 1), prompt_tokens=9,
                             output_tokens=9))  # fmt: skip
        session.add(LlmUsage(tenant_id=other, month=date(2026, 12, 1), prompt_tokens=7,
                             output_tokens=0))  # fmt: skip
    return acme, other


async def test_messages_by_weekday_and_hour_in_the_tenants_timezone(
    clean_db: SessionMaker, tenants: tuple[int, int]
) -> None:
    acme, _ = tenants
    async with clean_db() as session:
        local = await charts.message_heatmap(session, tenant_ids=[acme], tz=SP, now=NOW)
        in_utc = await charts.message_heatmap(session, tenant_ids=[acme], tz="UTC", now=NOW)
    thursday, friday = 3, 4
    assert local.counts[thursday][9] == 3
    assert local.counts[thursday][23] == 1
    assert (local.total, local.peak, local.days) == (4, 3, 28)
    assert local.since == date(2026, 11, 7)
    assert in_utc.counts[thursday][12] == 3
    assert in_utc.counts[friday][2] == 1  # the same message, on another day in UTC


async def test_answered_handed_off_and_first_reply_per_day(
    clean_db: SessionMaker, tenants: tuple[int, int]
) -> None:
    acme, other = tenants
    async with clean_db() as session:
        days = await charts.daily_outcomes(session, tenant_ids=[acme], tz=SP, now=NOW)
        replies = await charts.first_reply_times(session, tenant_ids=[acme], tz=SP, now=NOW)
        both = await charts.daily_outcomes(session, tenant_ids=[acme, other], tz=SP, now=NOW)
    assert [d.day for d in days] == [date(2026, 11, 21) + timedelta(days=i) for i in range(14)]
    by_day = {d.day: (d.answered, d.handed_off) for d in days}
    assert by_day.pop(date(2026, 12, 3)) == (2, 1)  # A and C answered, B handed off
    assert set(by_day.values()) == {(0, 0)}
    thursday = next(r for r in replies if r.day == date(2026, 12, 3))
    assert thursday.conversations == 3
    assert thursday.median_seconds == pytest.approx(10)
    assert thursday.p90_seconds == pytest.approx(18)  # 10 + 0.8 × (20 − 10)
    assert {r.median_seconds for r in replies if r.day != date(2026, 12, 3)} == {None}
    # Two tenants together: each one's rows, nothing joined across them.
    assert sum(d.answered for d in both) == 4
    assert sum(d.handed_off for d in both) == 2


async def test_budget_use_of_each_tenants_own_month(
    clean_db: SessionMaker, tenants: tuple[int, int]
) -> None:
    acme, other = tenants
    ask = [charts.BudgetTenant(acme, SP, 10_000), charts.BudgetTenant(other, "Asia/Tokyo", None)]
    async with clean_db() as session:
        mine, theirs = await charts.budget_use(session, tenants=ask, now=NOW)
        new_year = await charts.budget_use(
            session, tenants=ask[:1], now=datetime(2027, 1, 1, 2, tzinfo=UTC)
        )
    assert (mine.used, mine.budget, mine.month, mine.days_in_month) == (
        1500, 10_000, date(2026, 12, 1), 31,
    )  # fmt: skip
    assert mine.days_elapsed == pytest.approx(3 + 12.5 / 24)
    assert mine.projected == round(1500 / (3 + 12.5 / 24) * 31)
    assert mine.ratio == pytest.approx(0.15)
    assert (theirs.used, theirs.budget, theirs.ratio) == (7, None, None)
    # 2027-01-01 02:00 UTC is still 31 December in São Paulo: December's row.
    assert (new_year[0].month, new_year[0].used) == (date(2026, 12, 1), 1500)
