"""The conversations page: search by phone digits or by what the customer wrote, each filter,
keyset pages that show every conversation once, in pt-BR and English, and never another
tenant's conversations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from services.core.db import transaction
from services.core.models import Conversation, Handoff
from tests.api.conversations_app import (
    api,
    customer_writes,
    link,
    listed,
    set_activity,
    sign_in,
)
from tests.api.webhook_app import RunningApp

__all__ = ["api"]  # the fixture


async def test_search_finds_partial_phone_digits_and_the_customers_words(
    api: RunningApp,
) -> None:
    boleto = await customer_writes(
        api, "5511911110001", "Quero a segunda via do BOLETO", msg_id="S1"
    )
    late = await customer_writes(api, "5521922220002", "meu pedido atrasou", msg_id="S2")
    stranger = await customer_writes(
        api, "5521922220003", "boleto atrasado", msg_id="S3", tenant="other"
    )
    agent = await sign_in(api, "shop_agent")
    for query, expected in (
        ("2222", [late]),
        ("(21) 92222-0002", [late]),
        ("0001", [boleto]),
        ("boleto", [boleto]),  # the other tenant's customer wrote it too: not shown here
        ("segunda via", [boleto]),
        ("pedido", [late]),
        ("100%_", []),  # LIKE wildcards are the customer's characters, not patterns
        ("' OR 1=1 --", []),
    ):
        page = await agent.get(f"/panel/conversations?q={query}")
        assert page.status_code == 200
        assert listed(page.text) == expected, query
    platform = await sign_in(api, "platform")
    both = await platform.get("/panel/conversations?q=boleto")
    assert sorted(listed(both.text)) == sorted([boleto, stranger])
    only_other = await platform.get("/panel/conversations?q=boleto&tenant=other")
    assert listed(only_other.text) == [stranger]


async def test_each_filter_narrows_the_list(api: RunningApp) -> None:
    bot = await customer_writes(api, "5511930000001", "oi", msg_id="F1")
    waiting = await customer_writes(api, "5511930000002", "quero falar com alguém", msg_id="F2")
    person = await customer_writes(api, "5511930000003", "obrigado", msg_id="F3")
    late = await customer_writes(api, "5511930000004", "black friday", msg_id="F4")
    agent = await sign_in(api, "shop_agent")
    for conversation in (waiting, person, late):
        handed = await agent.post(f"/panel/conversations/{conversation}/hand-off")
        assert handed.status_code == 303
    now = datetime.now(UTC)
    async with transaction(api.state.sessionmaker) as session:
        await session.execute(  # a person answered in Whaticket
            update(Handoff).where(Handoff.conversation_id == person).values(human_seen_at=now)
        )
        await session.execute(
            update(Handoff).where(Handoff.conversation_id == late).values(sla_breached_at=now)
        )
        await session.execute(
            update(Conversation).where(Conversation.id == late).values(campaign="blackfriday")
        )
    # 23:30 in São Paulo on 9 November is 02:30 UTC on the 10th: the tenant's day decides.
    await set_activity(api, bot, datetime(2026, 11, 10, 2, 30, tzinfo=UTC))
    await set_activity(api, waiting, datetime(2026, 11, 10, 12, 0, tzinfo=UTC))
    await set_activity(api, person, datetime(2026, 11, 11, 2, 59, tzinfo=UTC))
    await set_activity(api, late, now)
    for query, expected in (
        ("state=bot", [bot]),
        ("state=waiting", [late, waiting]),
        ("state=human", [person]),
        ("sla=1", [late]),
        ("campaign=blackfriday", [late]),
        ("campaign=ad", []),
        ("since=2026-11-09&until=2026-11-09", [bot]),
        ("since=2026-11-10&until=2026-11-10", [person, waiting]),
        ("since=2026-11-10", [late, person, waiting]),
        ("until=2026-11-10", [person, waiting, bot]),
        ("state=waiting&since=2026-11-10&until=2026-11-10", [waiting]),
        ("tenant=other", []),  # not a tenant this agent may see: nothing, not an error
        ("since=not-a-date", [late, person, waiting, bot]),
    ):
        page = await agent.get(f"/panel/conversations?{query}")
        assert page.status_code == 200, query
        assert listed(page.text) == expected, query
    assert "blackfriday" in (await agent.get("/panel/conversations")).text  # in the select


async def test_pages_show_every_conversation_once_forward_and_back(api: RunningApp) -> None:
    base = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    ids = []
    for n in range(57):
        conversation = await customer_writes(
            api, f"55119400{n:05d}", f"mensagem {n}", msg_id=f"P{n}"
        )
        ids.append(conversation)
        # Several share an instant: the id breaks the tie, and no row falls between pages.
        await set_activity(api, conversation, base - timedelta(minutes=n // 4))
    expected = sorted(ids, key=lambda i: (ids.index(i) // 4, -i))  # newest first
    for language, older, newer in (("pt-BR", "Próxima página", "Página anterior"),
                                   ("en", "Next page", "Previous page")):  # fmt: skip
        agent = await sign_in(api, "shop_agent", language)
        page = await agent.get("/panel/conversations")
        assert link(page.text, "prev") is None
        assert older in page.text
        assert newer not in page.text
        pages = [listed(page.text)]
        while (following := link(page.text, "next")) is not None:
            page = await agent.get(following)
            assert newer in page.text
            pages.append(listed(page.text))
        assert [i for p in pages for i in p] == expected, language
        assert [len(p) for p in pages] == [25, 25, 7]
        walked_back = [listed(page.text)]
        while (previous := link(page.text, "prev")) is not None:
            page = await agent.get(previous)
            walked_back.insert(0, listed(page.text))
        assert walked_back == pages
    # A conversation that becomes the newest while someone reads page 2 shifts nothing there.
    agent = await sign_in(api, "shop_agent")
    first = await agent.get("/panel/conversations")
    second_link = link(first.text, "next")
    assert second_link is not None
    await customer_writes(api, "5511949999999", "cheguei agora", msg_id="P-new")
    assert listed((await agent.get(second_link)).text) == expected[25:50]
    forged = await agent.get("/panel/conversations?after=not-a-cursor")
    assert listed(forged.text)[:3] == listed((await agent.get("/panel/conversations")).text)[:3]


async def test_another_tenants_agent_sees_none_of_these_conversations(api: RunningApp) -> None:
    mine = await customer_writes(api, "5511950000001", "segredo da loja", msg_id="I1")
    theirs = await customer_writes(api, "5511950000002", "oi", msg_id="I2", tenant="other")
    other = await sign_in(api, "other_agent")
    for query in ("", "?q=segredo", "?q=5511950000001", "?tenant=shop", "?state=bot"):
        page = await other.get(f"/panel/conversations{query}")
        assert mine not in listed(page.text), query
        assert "segredo" not in page.text.replace("q=segredo", "").replace('value="segredo"', "")
    assert listed((await other.get("/panel/conversations")).text) == [theirs]
    assert "shop" not in (await other.get("/panel/conversations")).text.split("<select")[1]
    for path in (f"/panel/conversations/{mine}", f"/panel/conversations/{mine}/live"):
        assert (await other.get(path)).status_code == 404, path
    for action in ("hand-off", "give-back", "resolve"):
        refused = await other.post(f"/panel/conversations/{mine}/{action}")
        assert refused.status_code == 404, action
    assert "segredo" not in (await other.get("/panel/handoffs")).text
