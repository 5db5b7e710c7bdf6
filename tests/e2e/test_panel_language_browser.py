"""The panel's languages in a real browser (Debian's Chromium, Playwright) against the real api
and worker: a Brazilian browser reads pt-BR, an American one English, dates read dd/mm/aaaa
in the tenant's time zone, and a user switches language on their profile (it sticks after
signing out, and the sign-in page offers the other)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from . import test_panel_browser as shared
from .conftest import Stack

ADMIN, AGENT = shared.ADMIN, shared.AGENT
browser, panel = shared.browser, shared.panel  # the same fixtures: Chromium, users per role

pytestmark = pytest.mark.timeout(180)
DD_MM_YYYY = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}$")
PAGES = {  # path: (heading in pt-BR, heading in English)
    "/panel/dead-letters": ("Falhas", "Dead letters"),
    "/panel/events": ("Eventos de automação", "Workflow events"),
    "/panel/simulator": ("Simulador de conversa", "Chat simulator"),
    "/panel/audit": ("Registro de auditoria", "Audit log"),
    "/panel/profile": ("Perfil", "Profile"),
}


async def sign_in(browser: Browser, stack: Stack, who: tuple[str, str], locale: str) -> Page:
    context = await browser.new_context(base_url=stack.api_url, locale=locale)
    page = await context.new_page()
    await page.goto("/panel/login")
    await page.fill("input[name=email]", who[0])
    await page.fill("input[name=password]", who[1])
    await page.click("form[action='/panel/login'] button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(who[0])
    return page


async def test_a_brazilian_browser_reads_pt_br_and_an_american_one_english(
    browser: Browser,
    panel: Stack,
) -> None:
    context = await browser.new_context(base_url=panel.api_url, locale="pt-BR")
    page = await context.new_page()
    await page.goto("/panel/login")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await expect(page.get_by_role("button", name="Entrar")).to_be_visible()
    await page.fill("input[name=email]", ADMIN[0])
    await page.fill("input[name=password]", "not-the-password")
    await page.click("form[action='/panel/login'] button[type=submit]")
    await expect(page.get_by_role("alert")).to_have_text("E-mail ou senha incorretos.")

    pt = await sign_in(browser, panel, ADMIN, "pt-BR")
    en = await sign_in(browser, panel, ADMIN, "en-US")
    for path, (portuguese, english) in PAGES.items():
        await pt.goto(path)
        await expect(pt.locator("html")).to_have_attribute("lang", "pt-BR")
        await expect(pt.locator("h1")).to_have_text(portuguese)
        await expect(pt.locator("header.top nav")).to_contain_text("Conversas")
        await en.goto(path)
        await expect(en.locator("html")).to_have_attribute("lang", "en")
        await expect(en.locator("h1")).to_have_text(english)
        await expect(en.locator("header.top nav")).to_contain_text("Conversations")

    # The audit log has the sign-ins just made: dd/mm/aaaa HH:MM, the zone named on the page
    # and on each time, the instant machine-readable.
    await pt.goto("/panel/audit")
    first = pt.locator("table time").first
    await expect(first).to_have_text(DD_MM_YYYY)
    await expect(first).to_have_attribute("title", "Horário de Brasília (America/Sao_Paulo)")
    await expect(first).to_have_attribute("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}T.*\+00:00$"))
    await expect(pt.locator("caption")).to_have_text("Fuso horário: Horário de Brasília")
    await en.goto("/panel/audit")
    await expect(en.locator("table time").first).to_have_text(
        re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M$")
    )

    # The simulator in Portuguese, its transcript's times too.
    agent = await sign_in(browser, panel, AGENT, "pt-BR")
    await agent.click("text=Simulador")
    await expect(agent.locator("#thread")).to_contain_text("Escreva algo como o cliente")
    await agent.fill("input[name=text]", "Quais as formas de pagamento?")
    await agent.get_by_role("button", name="Enviar").click()
    bot = agent.locator("#thread .bubble.bot")
    await expect(bot).to_have_count(1, timeout=15_000)
    await expect(agent.locator("#thread .bubble time").first).to_have_text(DD_MM_YYYY)


async def test_a_user_switches_language_on_their_profile(
    browser: Browser,
    panel: Stack,
) -> None:
    page = await sign_in(browser, panel, AGENT, "en-US")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator("header.top a.profile").click()
    await expect(page.locator("h1")).to_have_text("Profile")
    await expect(page.locator("#language")).to_contain_text("My browser's language (now English)")
    await page.get_by_label("Português (Brasil)").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Idioma salvo.")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await expect(page.get_by_label("Português (Brasil)")).to_be_checked()
    await page.goto("/panel/events")
    await expect(page.locator("h1")).to_have_text("Eventos de automação")

    # Signed out, this (English) browser still reads Portuguese; the sign-in page offers English.
    await page.get_by_role("button", name="Sair").click()
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await expect(page.get_by_role("button", name="Entrar")).to_be_visible()
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    # Signing in again: the profile's choice beats both the browser and the sign-in page's pick.
    await page.fill("input[name=email]", AGENT[0])
    await page.fill("input[name=password]", AGENT[1])
    await page.click("form[action='/panel/login'] button[type=submit]")
    await expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    await expect(page.locator("header.top")).to_contain_text("Sair")

    # Back to "my browser's language": English again.
    await page.goto("/panel/profile")
    await page.get_by_label("O idioma do meu navegador", exact=False).check()
    await page.get_by_role("button", name="Salvar").click()
    await expect(page.get_by_role("status")).to_have_text("Language saved.")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
