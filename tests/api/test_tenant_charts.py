"""The tenant page's four charts over HTTP, on real Postgres: inline SVG images with a label,
a title per cell or bar saying its value in the reader's language, the tenant's own data only,
and a tenant picker for whoever sees more than one."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select, text

from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from services.core.models import LlmUsage, Tenant
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    make_settings,
    running_app,
    shop_and_other_with_users,
)
from tests.core.stats.test_charts import Feed

PASSWORD = "tenant-charts-password-01"
USERS = {
    "root": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
}
SP = ZoneInfo("America/Sao_Paulo")
PT = {"Accept-Language": "pt-BR"}
EN = {"Accept-Language": "en"}
CHART = re.compile(r'<section class="card chart" data-chart="(\w+)"><h2>[^<]*</h2>(<svg.*?</svg>)')


def yesterday() -> date:
    return datetime.now(SP).date() - timedelta(days=1)


def local(hour: int, minute: int) -> datetime:
    return datetime.combine(yesterday(), time(hour, minute), SP).astimezone(UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    await redis_client.flushall()
    settings = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    await shop_and_other_with_users(settings, clean_db, USERS, PASSWORD)
    month = datetime.now(SP).date().replace(day=1)
    async with transaction(clean_db) as session:
        ids = {t.slug: t.id for t in await session.scalars(select(Tenant))}
        shop = Feed(session, ids[TENANT])
        a, b = await shop.conversation(), await shop.conversation()
        await shop.message(a, local(9, 10), 4)
        await shop.message(b, local(9, 40), 10)
        await shop.handoff(b, local(9, 41))
        other = Feed(session, ids["other"], n=100)
        c = await other.conversation()
        for minute in range(5):
            await other.message(c, local(9, minute), 1)
        session.add(LlmUsage(tenant_id=ids[TENANT], month=month, prompt_tokens=1_234_000,
                             output_tokens=567))  # fmt: skip
        await session.execute(
            text(
                "UPDATE tenants SET spec = jsonb_set(spec, '{llm}', coalesce(spec->'llm', "
                "'{}'::jsonb) || '{\"monthlyTokenBudget\": 5000000}'::jsonb) WHERE slug = :slug"
            ),
            {"slug": TENANT},
        )
    async with running_app(settings) as app:
        yield app


async def page(api: RunningApp, who: str, language: dict[str, str], query: str = "") -> str:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS[who][0], "password": PASSWORD}
    )
    api.client.cookies.clear()
    cookie = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
    answer = await api.client.get(f"/panel{query}", headers=cookie | language)
    assert answer.status_code == 200, answer.text
    return answer.text


def charts(html: str) -> dict[str, ET.Element]:
    found = {key: ET.fromstring(svg) for key, svg in CHART.findall(html)}
    assert list(found) == ["heatmap", "outcomes", "reply_times", "budget"]
    for svg in found.values():
        assert svg.get("role") == "img"
        assert svg.get("aria-label")
    return found


def cells(svg: ET.Element) -> dict[tuple[int, int], ET.Element]:
    return {(int(r.get("data-weekday", -1)), int(r.get("data-hour", -1))): r
            for r in svg.iter("rect") if r.get("data-count") is not None}  # fmt: skip


def title(element: ET.Element) -> str:
    found = element.find("title")
    assert found is not None
    assert found.text
    return found.text


def bar(svg: ET.Element, day: date, series: str) -> ET.Element:
    [group] = [g for g in svg.iter("g") if g.get("data-day") == day.isoformat()]
    [rect] = [r for r in group.iter("rect") if r.get("data-series") == series]
    return rect


async def test_a_tenant_admin_sees_their_tenants_four_charts(api: RunningApp) -> None:
    weekday = yesterday().weekday()
    for language, words in (
        (EN, {"msgs": "2 messages", "bot": "1 answered by the bot", "median": "median 7.0 s",
              "p90": "within 9.4 s", "used": "1,234,567 of 5,000,000 tokens (25%)"}),
        (PT, {"msgs": "2 mensagens", "bot": "1 atendidas pelo bot", "median": "mediana de 7,0 s",
              "p90": "em até 9,4 s", "used": "1.234.567 de 5.000.000 tokens (25%)"}),
    ):  # fmt: skip
        html = await page(api, "shop_admin", language, "?tenant=other")  # not theirs: ignored
        assert 'name="tenant"' not in html  # one tenant: nothing to pick
        found = charts(html)
        grid = cells(found["heatmap"])
        assert len(grid) == 7 * 24
        assert sum(int(r.get("data-count", 0)) for r in grid.values()) == 2
        assert title(grid[(weekday, 9)]).endswith(f"09h: {words['msgs']}")
        assert bar(found["outcomes"], yesterday(), "answered").get("data-value") == "1"
        assert words["bot"] in title(bar(found["outcomes"], yesterday(), "answered"))
        assert bar(found["outcomes"], yesterday(), "handed-off").get("data-value") == "1"
        assert words["median"] in title(bar(found["reply_times"], yesterday(), "median"))
        assert words["p90"] in title(bar(found["reply_times"], yesterday(), "p90"))
        [tenant] = [g for g in found["budget"].iter("g") if g.get("class") == "tenant"]
        assert (tenant.get("data-used"), tenant.get("data-budget")) == ("1234567", "5000000")
        [used] = [r for r in tenant.iter("rect") if r.get("data-series") == "used"]
        assert title(used) == words["used"]
        assert {r.get("data-series") for r in tenant.iter("rect")} == {
            "used", "projected", "budget",
        }  # fmt: skip


async def test_a_platform_admin_picks_a_tenant_or_sees_them_all(api: RunningApp) -> None:
    weekday = yesterday().weekday()
    everyone = await page(api, "root", EN)
    assert '<option value="" selected>All tenants</option>' in everyone
    counts = {}
    for query in ("", "?tenant=other", f"?tenant={TENANT}"):
        grid = cells(charts(await page(api, "root", PT, query))["heatmap"])
        counts[query] = int(grid[(weekday, 9)].get("data-count", 0))
    assert counts == {"": 7, "?tenant=other": 5, f"?tenant={TENANT}": 2}
    budget = charts(everyone)["budget"]
    assert len([g for g in budget.iter("g") if g.get("class") == "tenant"]) == 2
    picked = await page(api, "root", PT, "?tenant=other")
    assert '<option value="other" selected>' in picked
    assert "Todas as empresas" in picked
