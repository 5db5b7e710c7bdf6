"""Customer data in a real browser (Debian's Chromium, Playwright) against the real api and
worker: a tenant admin reading pt-BR finds a customer the bot answered, downloads the export
and erases them after typing the phone again; afterwards neither Postgres nor Redis holds
anything of that customer, everything of the others is there, and the audit chain verifies. A
platform admin reading English sees another tenant's customer; an agent is refused."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from services.core.models import OutboundMessage
from tests.core.privacy.dump import dump_postgres, dump_redis, everything

from .conftest import CUSTOMER, TENANT, Stack, baileys_text, eventually
from .test_panel_browser import ADMIN, AGENT, browser, panel  # noqa: F401 (fixtures)

TENANT_ADMIN = ("admin@acme.test", "acme-admin-password-1")
NEIGHBOUR = "5511999990002"
FORGOTTEN_WORDS = "Meu CPF é 123.456.789-00, ANOTEESTE"
pytestmark = pytest.mark.timeout(240)


async def signed_in(chromium: Browser, stack: Stack, who: tuple[str, str], locale: str) -> Page:
    context: BrowserContext = await chromium.new_context(base_url=stack.api_url, locale=locale)
    page = await context.new_page()
    await page.goto("/panel/login")
    await page.fill("input[name=email]", who[0])
    await page.fill("input[name=password]", who[1])
    await page.click("button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(who[0])
    return page


async def answered(stack: Stack, count: int) -> None:
    async def enough() -> bool:
        return len(await stack.rows(OutboundMessage)) >= count

    await eventually(enough, within=30, what=f"{count} replies")


async def test_a_tenant_admin_erases_a_customer_from_the_panel(
    browser: Browser,  # noqa: F811
    panel: Stack,  # noqa: F811
) -> None:
    args = ["users", "create", "--email", TENANT_ADMIN[0], "--role", "tenant_admin"]
    code, out, err = await panel.run_cli(
        *args, "--password-stdin", "--tenant", TENANT, stdin=TENANT_ADMIN[1] + "\n"
    )
    assert code == 0, out + err
    assert (await panel.post(baileys_text("BRW-1", FORGOTTEN_WORDS))).is_success
    assert (await panel.post(baileys_text("BRW-2", "VIZINHOFICA aqui", NEIGHBOUR))).is_success
    other = baileys_text("BRW-3", "OUTRAEMPRESA fica", CUSTOMER)
    assert (await panel.http.post(panel.hook_path(tenant="other"), json=other)).is_success
    await answered(panel, 3)

    agent = await signed_in(browser, panel, AGENT, "en-US")
    refused = await agent.goto("/panel/contacts")
    assert refused is not None
    assert refused.status == 403
    await expect(agent.locator("main")).to_contain_text("Your role does not allow this.")
    await agent.goto("/panel")
    await expect(agent.locator("nav")).not_to_contain_text("Customer data")

    page = await signed_in(browser, panel, TENANT_ADMIN, "pt-BR")
    await page.get_by_role("link", name="Dados de clientes").click()
    await page.get_by_label("Telefone, com o código do país").fill(f"+{CUSTOMER}")
    await page.get_by_role("button", name="Buscar").click()
    await expect(page.locator('[data-count="messages"]')).to_have_text("1")
    await expect(page.locator('[data-count="replies"]')).to_have_text("1")
    await expect(page.locator("main")).to_contain_text("Horário de Brasília")

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Baixar tudo (JSON)").click()
    download = await waiting.value
    path = await download.path()
    document = json.loads(path.read_text())
    assert document["conversations"][0]["messages"][0]["text"] == FORGOTTEN_WORDS
    assert "VIZINHOFICA" not in path.read_text()

    await page.get_by_label("Digite o telefone de novo para confirmar").fill("5511000000000")
    await page.get_by_role("button", name="Apagar tudo").click()
    await expect(page.get_by_role("status")).to_contain_text("Digite o telefone de novo")
    await page.get_by_label("Digite o telefone de novo para confirmar").fill(CUSTOMER)
    await page.get_by_role("button", name="Apagar tudo").click()
    await expect(page.get_by_role("status")).to_contain_text("registros deste cliente apagados")
    await expect(page.locator("main")).to_contain_text("Nada está guardado sobre")

    stored = everything(await dump_postgres(panel.sessionmaker), await dump_redis(panel.redis))
    assert FORGOTTEN_WORDS not in stored
    assert "VIZINHOFICA aqui" in stored
    assert "OUTRAEMPRESA fica" in stored  # the same phone at another tenant
    code, out, err = await panel.run_cli("audit", "verify")
    assert code == 0, out + err

    admin = await signed_in(browser, panel, ADMIN, "en-US")
    await admin.goto("/panel/contacts")
    await admin.get_by_label("Tenant").select_option("other")
    await admin.get_by_label("Phone, with the country code").fill(CUSTOMER)
    await admin.get_by_role("button", name="Find").click()
    await expect(admin.locator('[data-count="messages"]')).to_have_text("1")
    await expect(admin.get_by_role("button", name="Erase everything")).to_be_visible()
