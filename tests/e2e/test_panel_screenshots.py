"""The README's pictures of the panel, taken in pt-BR (the language its users read) in Debian's
Chromium against the real api and worker, after a few customers wrote and one asked for a person.
``make screenshots`` saves them in ``docs/screenshots``; in ``make test`` they go to a temporary
folder and must at least render, in pt-BR."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from services.core.models import Conversation, Handoff

from . import test_panel_browser as shared
from .conftest import CUSTOMER, TENANT, Stack, baileys_text, eventually, tenant_yaml

browser = shared.browser  # the same Chromium as the other panel tests
panel = shared.panel  # a platform admin among its users
DELEGATED = "  delegation: {panelOwns: [knowledge, messages, businessHours]}\n"
CUSTOMERS = [
    (CUSTOMER, "Oi! Quais as formas de pagamento?"),
    ("5511999990002", "Vocês entregam no sábado?"),
    ("5521988880003", "Quero falar com um atendente, por favor"),
]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    target = Path(os.environ.get("ATENDE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


async def _a_day_of_work(stack: Stack) -> int:
    """The tenant hands off and delegates its bot; three customers write, one asks for a person.
    Returns the conversation the first customer had."""
    path = stack.tmp / "screenshots.yaml"
    path.write_text(tenant_yaml(stack.whaticket.url, handoff=True) + DELEGATED)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, out + err
    for n, (phone, text) in enumerate(CUSTOMERS):
        assert (await stack.post(baileys_text(f"SHOT-{n}", text, phone=phone))).status_code == 200
    for phone, _ in CUSTOMERS:
        await stack.wait_sent(1, number=phone)

    async def handed_off() -> int | None:
        async with stack.sessionmaker() as session:
            return await session.scalar(select(Handoff.id))

    await eventually(handed_off, within=20, what="the handoff of the customer who asked")
    async with stack.sessionmaker() as session:
        first = await session.scalar(select(Conversation.id).order_by(Conversation.id))
    assert first is not None
    return first


async def _signed_in_in_portuguese(browser: Browser, stack: Stack) -> Page:
    context = await browser.new_context(base_url=stack.api_url, locale="pt-BR")
    page = await context.new_page()
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto("/panel")
    await page.fill("input[name=email]", shared.ADMIN[0])
    await page.fill("input[name=password]", shared.ADMIN[1])
    await page.click("button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(shared.ADMIN[0])
    return page


async def test_screenshots_of_the_panel_in_portuguese(
    browser: Browser, panel: Stack, pictures: Path
) -> None:
    conversation = await _a_day_of_work(panel)
    page = await _signed_in_in_portuguese(browser, panel)
    shots = {
        "tenants": "/panel",
        "conversations": "/panel/conversations",
        "conversation": f"/panel/conversations/{conversation}",
        "handoffs": "/panel/handoffs",
        "settings": f"/panel/tenants/{TENANT}/settings",
        "contacts": f"/panel/contacts?tenant={TENANT}&phone={CUSTOMER}",
        "users": "/panel/users",
        "dead-letters": "/panel/dead-letters",
        "audit": "/panel/audit",
    }
    for name, url in shots.items():
        await page.goto(url)
        await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
        await page.screenshot(path=str(pictures / f"{name}.png"), full_page=True)
    await page.goto("/panel/simulator")
    await page.fill("input[name=text]", "Vocês atendem aos sábados?")
    await page.click("#say button[type=submit]")
    await expect(page.locator("#thread .bubble.bot")).to_have_count(1, timeout=15_000)
    await page.screenshot(path=str(pictures / "simulator.png"), full_page=True)
    sizes = [(pictures / f"{name}.png").stat().st_size for name in [*shots, "simulator"]]
    assert min(sizes) > 10_000
