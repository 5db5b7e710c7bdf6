"""The panel in a real browser (Debian's Chromium driven by Playwright) against the real api and
worker processes: sign-in, wrong password, CSRF, role isolation, dead-letter replay, the
simulator, sign-out. The README's pictures are taken by test_panel_screenshots.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from sqlalchemy import select

from services.core.models import AuditEvent, DeadLetter, Turn
from tests.fixtures.tenant_files import renamed
from tests.standins.gemini import Reply

from .conftest import CUSTOMER, TENANT, Stack, answer_for, baileys_text, eventually

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own calls home are refused by this machine's closed network; keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ADMIN = ("admin@atende.test", "platform-admin-password-1")
AGENT = ("agent@acme.test", "acme-agent-password-1")
OTHER = ("viewer@other.test", "other-viewer-password-1")

pytestmark = pytest.mark.timeout(180)


@pytest_asyncio.fixture(loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def panel(stack: Stack) -> Stack:
    """The stack with a second tenant and one user per role of interest."""
    text = (stack.tmp / "tenant.yaml").read_text().replace("ACME Telecom", "Other Shop")
    text = renamed(text, TENANT, "other")
    (stack.tmp / "other.yaml").write_text(text)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(stack.tmp / "other.yaml"))
    assert code == 0, out + err
    for (email, password), role, tenant in (
        (ADMIN, "platform_admin", None),
        (AGENT, "agent", TENANT),
        (OTHER, "viewer", "other"),
    ):
        args = ["users", "create", "--email", email, "--role", role, "--password-stdin"]
        args += ["--tenant", tenant] if tenant else []
        code, out, err = await stack.run_cli(*args, stdin=password + "\n")
        assert code == 0, out + err
    return stack


async def signed_in(browser: Browser, stack: Stack, who: tuple[str, str]) -> Page:
    context: BrowserContext = await browser.new_context(base_url=stack.api_url, locale="en-US")
    page = await context.new_page()
    await page.goto("/panel")
    await expect(page).to_have_url(f"{stack.api_url}/panel/login?next=/panel")
    await page.fill("input[name=email]", who[0])
    await page.fill("input[name=password]", who[1])
    await page.click("button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(who[0])
    return page


async def test_sign_in_wrong_password_and_sign_out(browser: Browser, panel: Stack) -> None:
    context = await browser.new_context(base_url=panel.api_url, locale="en-US")
    page = await context.new_page()
    await page.goto("/panel/login")
    await page.fill("input[name=email]", ADMIN[0])
    await page.fill("input[name=password]", "not-the-password")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")

    page = await signed_in(browser, panel, ADMIN)
    await expect(page.locator("table.tenants")).to_contain_text("ACME Telecom")
    await expect(page.locator("table.tenants")).to_contain_text("Other Shop")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    access = cookies["atende_access"]
    assert access["httpOnly"] is True
    assert access["sameSite"] == "Strict"

    await page.click("text=Sign out")
    await expect(page).to_have_url(f"{panel.api_url}/panel/login")
    # The access token taken before signing out no longer opens anything.
    response = await panel.http.get(
        "/api/v1/tenants", headers={"Authorization": f"Bearer {access['value']}"}
    )
    assert response.status_code == 401
    async with panel.sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert "auth.sign_in_failed" in actions
    assert "auth.sign_in" in actions
    assert "auth.sign_out" in actions


async def test_a_form_with_a_wrong_csrf_token_is_refused_and_audited(
    browser: Browser, panel: Stack
) -> None:
    page = await signed_in(browser, panel, ADMIN)
    row = page.locator(f"tr[data-tenant={TENANT}]")
    await row.locator("input[name=reason]").fill("maintenance")
    await row.locator("input[name=csrf_token]").evaluate("e => e.value = 'forged'")
    await row.get_by_role("button", name="Pause").click()
    await expect(page.locator("main")).to_contain_text("did not come from this panel")
    async with panel.sessionmaker() as session:
        rejected = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "auth.csrf_rejected")
        )
    assert rejected is not None
    await page.goto("/panel")
    await expect(page.locator(f"tr[data-tenant={TENANT}]")).to_contain_text("answering")


async def test_a_user_of_one_tenant_never_sees_another(browser: Browser, panel: Stack) -> None:
    await panel.post(baileys_text("ISO-1", "Oi, sou cliente da ACME"))
    await panel.wait_sent(1, number=CUSTOMER)
    async with panel.sessionmaker() as session:
        acme_conversation = await session.scalar(select(Turn.conversation_id))

    page = await signed_in(browser, panel, OTHER)
    await expect(page.locator("table.tenants")).to_contain_text("Other Shop")
    await expect(page.locator("table.tenants")).not_to_contain_text("ACME")
    await expect(page.locator(f"tr[data-campaign='{TENANT}/none']")).to_have_count(0)
    await page.goto("/panel/conversations?q=ACME")
    await expect(page.locator("table")).to_contain_text("No conversations match.")
    response = await page.goto(f"/panel/conversations/{acme_conversation}")
    assert response is not None
    assert response.status == 404
    await page.goto("/panel/simulator")
    await expect(page.locator("main")).to_contain_text("No tenant you may simulate.")  # viewer
    api = await panel.http.post(
        "/api/v1/auth/token", json={"email": OTHER[0], "password": OTHER[1]}
    )
    token = api.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = await panel.http.get("/api/v1/conversations", headers=headers)
    assert listed.json() == []
    paused = await panel.http.post(
        f"/api/v1/tenants/{TENANT}/pause", json={"reason": "x"}, headers=headers
    )
    assert paused.status_code == 404  # another tenant's name is not even confirmed


async def test_replaying_a_dead_letter_gets_the_customer_an_answer(
    browser: Browser, panel: Stack
) -> None:
    panel.gemini.script(Reply.error(400, message="Request contains an invalid argument."))
    text = "Quais as formas de pagamento?"
    await panel.post(baileys_text("DLQ-1", text))
    await panel.wait_sent(1, number=CUSTOMER)  # the fallback

    async def letter() -> DeadLetter | None:
        rows = await panel.rows(DeadLetter)
        return rows[0] if rows else None

    dead = await eventually(letter, within=15, what="the dead letter")
    page = await signed_in(browser, panel, AGENT)
    await page.click("text=Dead letters")
    row = page.locator(f"tr[data-dead-letter='{dead.id}']")
    await expect(row).to_contain_text("gemini_400")
    await row.locator("input[type=checkbox]").check()
    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.get_by_role("status")).to_contain_text(f"#{dead.id}: replayed")

    [_, answer] = await panel.wait_sent(2, number=CUSTOMER)
    assert answer["text"] == answer_for(text)


async def test_the_simulator_answers_through_the_real_pipeline(
    browser: Browser, panel: Stack
) -> None:
    page = await signed_in(browser, panel, AGENT)
    await page.click("text=Simulator")
    await page.fill("input[name=text]", "Quais as formas de pagamento?")
    await page.click("#say button[type=submit]")
    bot = page.locator("#thread .bubble.bot")
    await expect(bot).to_contain_text(answer_for("Quais as formas de pagamento?"), timeout=15_000)
    # Nothing went to the tenant's real Whaticket.
    assert panel.sent_to(CUSTOMER) == []
    assert all(item["number"] != CUSTOMER for item in panel.whaticket.sent())
