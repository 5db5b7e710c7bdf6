"""The conversations pages in a real browser (Debian's Chromium driven by Playwright) against the
real api and worker processes, in pt-BR and in English: filters and keyset pages, a customer's
new message showing on an open conversation and a new handoff in the open queue without a
reload, and each agent action doing its work down to the Whaticket ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from services.core.models import Contact, Conversation, Handoff

from .conftest import CUSTOMER, Stack, baileys_text, eventually
from .test_panel_browser import AGENT, browser

__all__ = ["browser"]  # the fixture
pytestmark = pytest.mark.timeout(240)
LIVE = 12_000  # ms: a few polls of the page (every 3 s)


@pytest_asyncio.fixture(loop_scope="session")
async def desk(stack: Stack) -> AsyncIterator[Stack]:
    """The stack with handoffs moving tickets (the agent user, the keyword "atendente") and an
    agent of the tenant."""
    await stack.apply_tenant(handoff=True)
    args = ["users", "create", "--email", AGENT[0], "--role", "agent", "--password-stdin"]
    code, out, err = await stack.run_cli(*args, "--tenant", "acme", stdin=AGENT[1] + "\n")
    assert code == 0, out + err
    yield stack


async def signed_in(browser: Browser, stack: Stack, language: str) -> Page:
    context = await browser.new_context(base_url=stack.api_url, locale=language)
    page = await context.new_page()
    await page.goto("/panel/login")
    await page.fill("input[name=email]", AGENT[0])
    await page.fill("input[name=password]", AGENT[1])
    await page.click("button[type=submit]")
    await expect(page.locator("header.top")).to_contain_text(AGENT[0])
    return page


async def conversation_of(stack: Stack, phone: str) -> int:
    async def found() -> int | None:
        async with stack.sessionmaker() as session:
            return await session.scalar(
                select(Conversation.id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.phone == phone)
            )

    return await eventually(found, within=15, what=f"the conversation of {phone}")


async def handoff_of(stack: Stack, conversation_id: int, *statuses: str) -> Handoff:
    async def found() -> Handoff | None:
        rows = await stack.rows(Handoff, Handoff.conversation_id == conversation_id)
        return rows[-1] if rows and rows[-1].status in statuses else None

    return await eventually(found, within=20, what=f"a handoff {statuses}")


WORDS: dict[str, dict[str, str]] = {
    "pt-BR": {
        "hand": "Passar para uma pessoa",
        "back": "Devolver ao bot",
        "resolve": "Encerrar",
        "handed": "Passada para uma pessoa",
        "given": "Devolvida ao bot",
        "resolved": "Encerrada",
        "waiting": "esperando por uma pessoa",
        "bot": "o bot responde",
        "nobody": "Ninguém está esperando por uma pessoa.",
        "no_match": "Nenhuma conversa encontrada.",
        "next": "Próxima página",
        "previous": "Página anterior",
        "state_bot": "com o bot",
        "state_waiting": "esperando por uma pessoa",
        "search": "Buscar",
    },
    "en": {
        "hand": "Hand to a person",
        "back": "Give back to the bot",
        "resolve": "Resolve",
        "handed": "Handed to a person",
        "given": "Given back to the bot",
        "resolved": "Resolved",
        "waiting": "waiting for a person",
        "bot": "the bot answers",
        "nobody": "Nobody is waiting for a person.",
        "no_match": "No conversations match.",
        "next": "Next page",
        "previous": "Previous page",
        "state_bot": "with the bot",
        "state_waiting": "waiting for a person",
        "search": "Search",
    },
}


@pytest.mark.parametrize("language", ["pt-BR", "en"])
async def test_an_agent_works_a_conversation_live(
    browser: Browser, desk: Stack, language: str
) -> None:
    words = WORDS[language]
    await desk.post(baileys_text("LIVE-1", "Oi, meu pedido não chegou"))
    await desk.wait_sent(1, number=CUSTOMER)
    conversation = await conversation_of(desk, CUSTOMER)
    page = await signed_in(browser, desk, language)
    queue = await page.context.new_page()
    await queue.goto("/panel/handoffs")
    await expect(queue.locator("#handoff-rows")).to_contain_text(words["nobody"])

    await page.goto(f"/panel/conversations/{conversation}")
    thread = page.locator("#live .thread")
    await expect(thread).to_contain_text("Oi, meu pedido não chegou")
    await desk.post(baileys_text("LIVE-2", "Alguém pode me ajudar?"))
    await expect(thread).to_contain_text("Alguém pode me ajudar?", timeout=LIVE)  # no reload

    await page.fill("input[name=reason]", "pedido atrasado")
    await page.get_by_role("button", name=words["hand"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["handed"])
    await expect(page.locator("#live .state")).to_contain_text(words["waiting"])
    handoff = await handoff_of(desk, conversation, "transferred")
    assert (handoff.trigger, handoff.reason) == ("panel", "pedido atrasado")
    row = queue.locator(f"#handoff-rows tr[data-conversation='{conversation}']")
    await expect(row).to_contain_text("pedido atrasado", timeout=LIVE)  # the open queue, live

    # Another customer asks for a person: the bot hands over, and the queue shows it by itself.
    other_phone = "5511999990002"
    await desk.post(baileys_text("LIVE-3", "quero falar com um atendente", phone=other_phone))
    other = await conversation_of(desk, other_phone)
    await expect(queue.locator(f"#handoff-rows tr[data-conversation='{other}']")).to_have_count(
        1, timeout=LIVE + 10_000
    )
    assert await queue.locator("#handoff-rows tr").evaluate_all(
        "rows => rows.map(r => r.dataset.conversation)"
    ) == [str(conversation), str(other)]  # who waited longest first

    await page.get_by_role("button", name=words["back"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["given"])
    await expect(page.locator("#live .state")).to_contain_text(words["bot"])
    await expect(row).to_have_count(0, timeout=LIVE)
    assert (await handoff_of(desk, conversation, "resolved")).resolution == "command"

    await page.get_by_role("button", name=words["resolve"]).click()
    await expect(page.get_by_role("status")).to_contain_text(words["resolved"])

    async def closed() -> list[dict[str, Any]]:
        return [
            t
            for t in desk.whaticket.tickets()
            if t["contact"]["number"] == CUSTOMER and t["status"] == "closed"
        ]

    await eventually(closed, within=20, what="the customer's ticket closed")


@pytest.mark.parametrize("language", ["pt-BR", "en"])
async def test_filters_and_pages_in_the_browser(
    browser: Browser, desk: Stack, language: str
) -> None:
    words = WORDS[language]
    phones = [f"55119888{n:05d}" for n in range(27)]
    for n, phone in enumerate(phones):
        response = await desk.post(baileys_text(f"PAGE-{n}", f"mensagem número {n}", phone=phone))
        assert response.status_code == 200
    await desk.post(baileys_text("PAGE-H", "preciso de um atendente", phone="5511977770001"))
    waiting = await conversation_of(desk, "5511977770001")
    await handoff_of(desk, waiting, "requested", "transferred", "failed")
    page = await signed_in(browser, desk, language)

    await page.goto("/panel/conversations")
    rows = page.locator("table.conversations tbody tr[data-conversation]")
    await expect(rows).to_have_count(25)
    await expect(page.get_by_role("link", name=words["previous"])).to_have_count(0)
    first_page = await rows.evaluate_all("rows => rows.map(r => r.dataset.conversation)")
    await page.get_by_role("link", name=words["next"]).click()
    await expect(rows).to_have_count(3)
    second_page = await rows.evaluate_all("rows => rows.map(r => r.dataset.conversation)")
    assert not set(first_page) & set(second_page)
    await page.get_by_role("link", name=words["previous"]).click()
    await expect(rows).to_have_count(25)
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.conversation)") == first_page

    await page.fill("input[name=q]", "(11) 98880-0013")  # the digits of one phone, punctuated
    await page.get_by_role("button", name=words["search"]).click()
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("5511988800013")
    await page.goto("/panel/conversations")
    await page.select_option("select[name=state]", label=words["state_waiting"])
    await page.get_by_role("button", name=words["search"]).click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-conversation", str(waiting))
    await page.select_option("select[name=state]", label=words["state_bot"])
    await page.fill("input[name=q]", "preciso de um atendente")
    await page.get_by_role("button", name=words["search"]).click()
    await expect(page.locator("table.conversations")).to_contain_text(words["no_match"])
