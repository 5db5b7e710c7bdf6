"""A tenant admin edits the bot its BotTenant delegates (spec.delegation), in a real browser
(Debian's Chromium driven by Playwright) against the real api and worker: the FAQ entry saved in
the pt-BR page is in the very next customer turn's prompt to Gemini, and the same page in
English explains a refused fixed message next to its field. ``ATENDE_SCREENSHOTS=<dir>`` also
saves pictures of both pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from . import test_panel_browser as shared
from .conftest import CUSTOMER, TENANT, Stack, baileys_text

browser = shared.browser  # the same Chromium as the other panel tests
ADMIN = ("admin@acme.test", "acme-tenant-admin-password-1")
DELEGATION = "  delegation: {panelOwns: [knowledge, messages]}\n"
SETTINGS = f"/panel/tenants/{TENANT}/settings"
OLD_ANSWER = "Pix, cartão e boleto."
NEW_ANSWER = "Só Pix, com desconto à vista."

pytestmark = pytest.mark.timeout(180)


@pytest_asyncio.fixture(loop_scope="session")
async def delegated(stack: Stack) -> Stack:
    """The stack's tenant with its FAQ and fixed messages delegated, and one admin of it."""
    path = stack.tmp / "delegated.yaml"
    path.write_text((stack.tmp / "tenant.yaml").read_text() + DELEGATION)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, out + err
    args = ["users", "create", "--email", ADMIN[0], "--role", "tenant_admin"]
    code, out, err = await stack.run_cli(
        *args, "--tenant", TENANT, "--password-stdin", stdin=ADMIN[1] + "\n"
    )
    assert code == 0, out + err
    return stack


async def signed_in(browser: Browser, stack: Stack, locale: str) -> Page:
    context = await browser.new_context(base_url=stack.api_url, locale=locale)
    page = await context.new_page()
    await page.goto(SETTINGS)
    await page.fill("input[name=email]", ADMIN[0])
    await page.fill("input[name=password]", ADMIN[1])
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{stack.api_url}{SETTINGS}")
    return page


@pytest.fixture
def pictures() -> Path | None:
    """Where to save pictures of the pages (``ATENDE_SCREENSHOTS``), if anywhere."""
    folder = os.environ.get("ATENDE_SCREENSHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


async def picture(page: Page, pictures: Path | None, name: str) -> None:
    if pictures is not None:
        await page.screenshot(path=str(pictures / name), full_page=True)


async def test_an_faq_entry_edited_in_the_panel_is_in_the_next_answers_prompt(
    browser: Browser, delegated: Stack, pictures: Path | None
) -> None:
    question = "Quais as formas de pagamento?"
    await delegated.post(baileys_text("FAQ-1", question))
    await delegated.wait_sent(1, number=CUSTOMER)
    assert OLD_ANSWER in delegated.gemini.last_request.system_instruction  # the worker has it

    page = await signed_in(browser, delegated, "pt-BR")
    await expect(page.locator("h1")).to_contain_text("Configurações do bot")
    await expect(page.locator("#businessHours")).to_contain_text("Gerenciado pela plataforma")
    entry = page.locator("form[data-entry='0']")
    await expect(entry.locator("textarea[name=answer]")).to_have_value(OLD_ANSWER)
    await entry.locator("textarea[name=answer]").fill(NEW_ANSWER)
    await entry.get_by_role("button", name="Salvar pergunta").click()
    await expect(page.get_by_role("status")).to_contain_text("Pergunta do FAQ salva")
    await expect(page.locator("#knowledge [data-owner]")).to_contain_text(
        f"Última alteração por {ADMIN[0]} em"
    )
    history = page.locator("#history tr[data-change=knowledge]")
    await expect(history).to_contain_text(ADMIN[0])
    await expect(history.locator("del")).to_have_text(OLD_ANSWER)
    await expect(history.locator("ins")).to_have_text(NEW_ANSWER)
    await picture(page, pictures, "settings-pt-BR.png")

    await delegated.post(baileys_text("FAQ-2", question))
    await delegated.wait_sent(2, number=CUSTOMER)
    prompt = delegated.gemini.last_request.system_instruction
    assert f"R: {NEW_ANSWER}" in prompt
    assert OLD_ANSWER not in prompt


async def test_the_same_page_in_english_explains_a_refused_message(
    browser: Browser, delegated: Stack, pictures: Path | None
) -> None:
    page = await signed_in(browser, delegated, "en-US")
    await expect(page.locator("h1")).to_contain_text("Bot settings")
    await expect(page.locator("#businessHours")).to_contain_text("Managed by the platform")
    await expect(page.locator("#businessHours input[name=timezone]")).to_have_attribute(
        "readonly", ""
    )
    messages = page.locator("#messages")
    await messages.locator("textarea[name=handoff]").fill("Olá {cliente}, já chamei alguém.")
    await messages.get_by_role("button", name="Save messages").click()
    await expect(page.get_by_role("alert")).to_contain_text("Not saved")
    await expect(messages.locator("[data-error=handoff]")).to_contain_text(
        "Unknown placeholder or lone brace"
    )
    await expect(messages.locator("textarea[name=handoff]")).to_have_value(
        "Olá {cliente}, já chamei alguém."
    )
    await picture(page, pictures, "settings-en.png")

    await messages.locator("textarea[name=handoff]").fill("Já chamei alguém da {empresa}.")
    await messages.get_by_role("button", name="Save messages").click()
    await expect(page.get_by_role("status")).to_contain_text("Fixed messages saved.")
    await expect(page.locator("#history tr[data-change=messages]")).to_contain_text(
        "Já chamei alguém da {empresa}."
    )
