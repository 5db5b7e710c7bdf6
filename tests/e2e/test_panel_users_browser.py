"""Inviting people and reading the tenant page's charts in a real browser (Debian's Chromium,
Playwright) against the real api and worker, in pt-BR and in English: a tenant admin invites an
e-mail, the invitee opens the link in a browser of their own, chooses a password and lands signed
in with the role; the tenant page draws its four charts from messages sent through the stack."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import select

from services.core.models import AuditEvent, Handoff

from . import test_panel_browser as shared
from .conftest import TENANT, Stack, baileys_text, eventually

browser, panel = shared.browser, shared.panel  # the same Chromium, users per role
pytestmark = pytest.mark.timeout(240)
TENANT_ADMIN = ("chefe@acme.test", "acme-tenant-admin-password-1")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")  # the tenant names no timezone: the default
WORDS = {
    "pt-BR": {
        "create": "Criar link de convite", "set": "Definir senha e entrar",
        "used": "Este convite já foi usado", "bot": "atendidas pelo bot",
        "handed": "passadas para uma pessoa", "median": "mediana de", "messages": "mensagens",
        "all": "Todas as empresas", "viewer": "Somente leitura",
    },
    "en-US": {
        "create": "Create invitation link", "set": "Set password and sign in",
        "used": "This invitation was already used", "bot": "answered by the bot",
        "handed": "handed off", "median": "median", "messages": "messages",
        "all": "All tenants", "viewer": "Viewer",
    },
}  # fmt: skip


@pytest.fixture
async def people(panel: Stack) -> Stack:
    """The panel's users, and a tenant admin of acme."""
    code, out, err = await panel.run_cli(
        "users", "create", "--email", TENANT_ADMIN[0], "--role", "tenant_admin",
        "--tenant", TENANT, "--password-stdin", stdin=TENANT_ADMIN[1] + "\n",
    )  # fmt: skip
    assert code == 0, out + err
    return panel


async def sign_in(browser: Browser, stack: Stack, who: tuple[str, str], locale: str) -> Page:
    context = await browser.new_context(base_url=stack.api_url, locale=locale)
    page = await context.new_page()
    await page.goto("/panel/login")
    await page.fill("input[name=email]", who[0])
    await page.fill("input[name=password]", who[1])
    await page.click("form[action='/panel/login'] button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(who[0])
    return page


@pytest.mark.parametrize("locale", ["pt-BR", "en-US"])
async def test_an_invitee_opens_the_link_and_lands_signed_in(
    browser: Browser, people: Stack, locale: str
) -> None:
    words = WORDS[locale]
    invitee = f"convidada-{locale.lower()}@acme.test"
    admin = await sign_in(browser, people, TENANT_ADMIN, locale)
    await admin.goto("/panel/users")
    invite = admin.locator("section.invite")
    await invite.locator("input[name=email]").fill(invitee)
    await invite.locator("select[name=role]").select_option("viewer")
    await expect(invite.locator("select[name=role] option[value=platform_admin]")).to_have_count(0)
    await invite.get_by_role("button", name=words["create"]).click()
    link = await admin.locator("input.invite-link").input_value()
    assert link.startswith(f"{people.api_url}/panel/invite/")

    fresh = await browser.new_context(locale=locale)  # the invitee's own browser: no cookies
    page = await fresh.new_page()
    await page.goto(link)
    await expect(page.locator("main")).to_contain_text(invitee)
    await page.fill("input[name=password]", "a-senha-que-escolhi-2026")
    await page.fill("input[name=confirm]", "a-senha-que-escolhi-2026")
    await page.get_by_role("button", name=words["set"]).click()
    await expect(page).to_have_url(f"{people.api_url}/panel")
    header = page.locator("header.top")
    await expect(header).to_contain_text(invitee)
    await expect(header).to_contain_text(words["viewer"])
    await expect(page.locator("table.tenants")).to_contain_text("ACME Telecom")
    await page.goto(link)
    await expect(page.get_by_role("alert")).to_contain_text(words["used"])

    await admin.goto("/panel/users")
    row = admin.locator(f"tr[data-user='{invitee}']")
    await expect(row.locator("select[name=role]")).to_have_value("viewer")
    async with people.sessionmaker() as session:
        done = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert {"user.invited", "user.invitation_accepted"} <= set(done)


def chart(page: Page, key: str) -> Locator:
    return page.locator(f"section[data-chart={key}] svg[role=img]")


async def counted(svg: Locator) -> int:
    values = await svg.locator("rect[data-count]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.count))"
    )
    assert len(values) == 7 * 24
    return int(sum(values))


async def test_the_tenant_page_charts_the_traffic(browser: Browser, people: Stack) -> None:
    await people.apply_tenant(handoff=True)
    people.whaticket.add_ticket("5511999990003")
    sent_at = datetime.now(SAO_PAULO)
    for n, (phone, text) in enumerate(
        (("5511999990001", "Quais as formas de pagamento?"), ("5511999990002", "Oi, bom dia"),
         ("5511999990003", "quero falar com um atendente"))
    ):  # fmt: skip
        await people.post(baileys_text(f"CHART-{n}", text, phone=phone))
    await people.wait_sent(3)

    async def handed() -> list[Handoff]:
        return await people.rows(Handoff)

    await eventually(handed, within=15, what="the handoff")
    today = sent_at.date().isoformat()
    for locale in ("pt-BR", "en-US"):
        words = WORDS[locale]
        page = await sign_in(browser, people, TENANT_ADMIN, locale)
        heat = chart(page, "heatmap")
        assert await counted(heat) == 3
        cell = heat.locator(f"rect[data-weekday='{sent_at.weekday()}'][data-hour='{sent_at.hour}']")
        if datetime.now(SAO_PAULO).hour == sent_at.hour:  # not across an hour's turn
            assert (await cell.get_attribute("data-count")) == "3"
            assert (await cell.locator("title").text_content() or "").endswith(
                f"3 {words['messages']}"
            )
        day = chart(page, "outcomes").locator(f"g[data-day='{today}']")
        answered = day.locator("rect[data-series=answered]")
        assert (await answered.get_attribute("data-value")) == "2"
        assert words["bot"] in (await answered.locator("title").text_content() or "")
        handed_off = day.locator("rect[data-series=handed-off]")
        assert (await handed_off.get_attribute("data-value")) == "1"
        assert words["handed"] in (await handed_off.locator("title").text_content() or "")
        median = chart(page, "reply_times").locator(
            f"g[data-day='{today}'] rect[data-series=median]"
        )
        assert words["median"] in (await median.locator("title").text_content() or "")
        budget = chart(page, "budget").locator("g.tenant")
        await expect(budget).to_have_count(1)
        assert int(await budget.get_attribute("data-used") or 0) > 0
        assert "tokens" in (
            await budget.locator("rect[data-series=used] title").text_content() or ""
        )

    root = await sign_in(browser, people, shared.ADMIN, "pt-BR")
    picker = root.locator("select[name=tenant]")
    await expect(picker.locator("option[selected]")).to_have_text(WORDS["pt-BR"]["all"])
    await picker.select_option("other")  # submits itself (the CSP allows that one handler)
    await expect(root).to_have_url(f"{people.api_url}/panel?tenant=other")
    assert await counted(chart(root, "heatmap")) == 0
    await root.get_by_role("button", name="Mostrar").click()
    await expect(picker.locator("option[selected]")).to_have_text("Other Shop")
