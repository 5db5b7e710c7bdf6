"""What an agent does from a conversation's page — hand to a person, give back to the bot,
resolve — does what the action API does, only for the roles allowed, each audited; reading a
conversation is audited once per reader and window however often its page polls; the thread
and the handoff queue show what just arrived."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import select, update

from services.core.db import transaction
from services.core.models import AuditEvent, Conversation, Handoff
from tests.api.conversations_app import ACTION_KEY, USERS, api, customer_writes, listed, sign_in
from tests.api.webhook_app import TENANT, RunningApp

__all__ = ["api"]  # the fixture
ACTIONS = f"/api/v1/actions/{TENANT}"
KEY = {"Authorization": f"Bearer {ACTION_KEY}"}


async def snapshot(
    api: RunningApp, redis_client: aioredis.Redis, conversation_id: int
) -> dict[str, Any]:
    """What an action leaves behind, without what differs by door (ids, actor, trigger)."""
    async with api.state.sessionmaker() as session:
        state = await session.scalar(
            select(Conversation.state).where(Conversation.id == conversation_id)
        )
        handoffs = list(
            await session.scalars(
                select(Handoff)
                .where(Handoff.conversation_id == conversation_id)
                .order_by(Handoff.id)
            )
        )
        audit = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.details["conversation_id"].as_integer() == conversation_id)
                .order_by(AuditEvent.id)
            )
        )
    return {
        "state": state,
        "handoffs": [
            {
                "status": h.status,
                "reason": h.reason,
                "resolution": h.resolution,
                "resolved": h.resolved_at is not None,
                "summary": {k: v for k, v in h.summary.items() if k != "trigger"},
                "transfer_queued": bool(await redis_client.exists(f"arq:job:handoff:{h.id}")),
            }
            for h in handoffs
        ],
        "audit": audit,
    }


async def test_each_panel_action_does_what_the_action_api_does(
    api: RunningApp, redis_client: aioredis.Redis
) -> None:
    panel_side = await customer_writes(api, "5511960000001", "quero cancelar", msg_id="T1")
    api_side = await customer_writes(api, "5511960000002", "quero cancelar", msg_id="T2")
    agent = await sign_in(api, "shop_agent", "pt-BR")
    steps = [
        ("hand-off", {"reason": "cancelamento"}, "handoff", {"reason": "cancelamento"}),
        ("hand-off", {"reason": "de novo"}, "handoff", {"reason": "de novo"}),  # changes nothing
        ("give-back", {}, "resume", {}),
        ("give-back", {}, "resume", {}),
        ("hand-off", {"reason": "outra vez"}, "handoff", {"reason": "outra vez"}),
        ("resolve", {}, "close", {}),
        ("resolve", {}, "close", {}),  # repeating a close is harmless
    ]
    for action, form, api_action, body in steps:
        done = await agent.post(f"/panel/conversations/{panel_side}/{action}", form)
        assert done.status_code == 303, (action, done.text)
        assert done.headers["location"].startswith(f"/panel/conversations/{panel_side}?flash=")
        answered = await api.client.post(
            f"{ACTIONS}/{api_action}", json={"phone": "5511960000002"} | body, headers=KEY
        )
        assert answered.status_code == 200, (api_action, answered.text)
        panel_state = await snapshot(api, redis_client, panel_side)
        api_state = await snapshot(api, redis_client, api_side)
        assert panel_state == api_state, action
    assert panel_state["state"] == "bot"
    assert [h["resolution"] for h in panel_state["handoffs"]] == ["command", "workflow"]
    async with api.state.sessionmaker() as session:
        rows = list(
            await session.execute(
                select(AuditEvent.actor, AuditEvent.action, AuditEvent.details).where(
                    AuditEvent.action.like("conversation.%"),
                    AuditEvent.action != "conversation.viewed",
                )
            )
        )
        triggers = set(await session.scalars(select(Handoff.trigger)))
    by_panel = [(a, d) for actor, a, d in rows if actor == USERS["shop_agent"][0]]
    assert [a for a, _ in by_panel] == [
        "conversation.handed_off", "conversation.handed_off", "conversation.given_back",
        "conversation.given_back", "conversation.handed_off", "conversation.closed",
        "conversation.closed",
    ]  # fmt: skip
    assert all(d["conversation_id"] == panel_side for _, d in by_panel)
    assert len([r for r in rows if r[0] == "action-api"]) == len(by_panel)
    assert triggers == {"panel", "workflow"}
    page = await agent.get(f"/panel/conversations/{panel_side}")
    assert "Passar para uma pessoa" in page.text
    assert "Devolver ao bot" in page.text


async def test_only_agents_and_above_of_the_tenant_may_act(
    api: RunningApp, redis_client: aioredis.Redis
) -> None:
    conversation = await customer_writes(api, "5511961000001", "oi", msg_id="R1")
    viewer = await sign_in(api, "shop_viewer")
    page = await viewer.get(f"/panel/conversations/{conversation}")
    assert page.status_code == 200
    assert "Hand to a person" not in page.text
    assert "/hand-off" not in page.text
    for action in ("hand-off", "give-back", "resolve"):
        refused = await viewer.post(f"/panel/conversations/{conversation}/{action}")
        assert refused.status_code == 403, action
    agent = await sign_in(api, "shop_agent")
    forged = await api.client.post(
        f"/panel/conversations/{conversation}/hand-off",
        data={"csrf_token": "forged"},
        headers=agent.headers,
    )
    assert forged.status_code == 403
    assert (await snapshot(api, redis_client, conversation))["handoffs"] == []
    for who in ("shop_agent", "shop_admin", "platform"):
        reader = await sign_in(api, who)
        assert "Hand to a person" in (await reader.get(f"/panel/conversations/{conversation}")).text
        await reader.post(f"/panel/conversations/{conversation}/give-back")
        handed = await reader.post(f"/panel/conversations/{conversation}/hand-off")
        assert handed.status_code == 303, who
        assert "Handed%20to%20a%20person" in handed.headers["location"]
    async with api.state.sessionmaker() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert "auth.csrf_rejected" in actions


async def views(api: RunningApp, conversation_id: int) -> list[tuple[str, dict[str, Any]]]:
    async with api.state.sessionmaker() as session:
        rows = await session.execute(
            select(AuditEvent.actor, AuditEvent.details, AuditEvent.tenant_id)
            .where(AuditEvent.action == "conversation.viewed")
            .order_by(AuditEvent.id)
        )
        return [
            (actor, details)
            for actor, details, _ in rows
            if details["conversation_id"] == conversation_id
        ]


async def test_reading_a_conversation_is_audited_once_per_reader_and_window(
    api: RunningApp, redis_client: aioredis.Redis
) -> None:
    conversation = await customer_writes(api, "5511962000001", "meu CPF é 123", msg_id="A1")
    agent = await sign_in(api, "shop_agent")
    assert (await agent.get(f"/panel/conversations/{conversation}")).status_code == 200
    for _ in range(4):  # the open page polls
        assert (await agent.get(f"/panel/conversations/{conversation}/live")).status_code == 200
    email = USERS["shop_agent"][0]
    assert await views(api, conversation) == [(email, {"conversation_id": conversation})]
    admin = await sign_in(api, "shop_admin")
    await admin.get(f"/panel/conversations/{conversation}/live")  # a first look, by the fragment
    assert [actor for actor, _ in await views(api, conversation)] == [
        email, USERS["shop_admin"][0]
    ]  # fmt: skip
    for key in await redis_client.keys("atende:viewed:*"):  # the window ends
        await redis_client.expire(key, 0)
    await agent.get(f"/panel/conversations/{conversation}/live")
    seen = await views(api, conversation)
    assert len(seen) == 3
    assert all("123" not in str(details) for _, details in seen)  # never the words


async def test_the_thread_and_the_queue_show_what_just_arrived(api: RunningApp) -> None:
    first = await customer_writes(api, "5511963000001", "primeira mensagem", msg_id="L1")
    second = await customer_writes(api, "5511963000002", "outra pessoa", msg_id="L2")
    agent = await sign_in(api, "shop_agent", "pt-BR")
    page = await agent.get(f"/panel/conversations/{first}")
    assert 'data-live-src="/panel/conversations/' in page.text
    assert '<script src="/panel/static/live.js"' in page.text
    await customer_writes(api, "5511963000001", "chegou agora há pouco", msg_id="L3")
    live = await agent.get(f"/panel/conversations/{first}/live")
    assert "chegou agora há pouco" in live.text
    assert "<html" not in live.text
    queue = await agent.get("/panel/handoffs")
    assert "Ninguém está esperando por uma pessoa." in queue.text
    for conversation in (second, first):
        await agent.post(f"/panel/conversations/{conversation}/hand-off", {"reason": "ajuda"})
    rows = await agent.get("/panel/handoffs/rows")
    assert listed(rows.text) == [second, first]  # who waited longest first
    assert (
        "esperando por uma pessoa" in (await agent.get(f"/panel/conversations/{first}/live")).text
    )
    async with transaction(api.state.sessionmaker) as session:
        await session.execute(
            update(Handoff)
            .where(Handoff.conversation_id == second)
            .values(human_seen_at=datetime.now(UTC), sla_breached_at=datetime.now(UTC))
        )
    assert listed((await agent.get("/panel/handoffs/rows")).text) == [first]
    breached = await agent.get("/panel/conversations?sla=1&state=human")
    assert listed(breached.text) == [second]
    await agent.post(f"/panel/conversations/{first}/give-back")
    assert listed((await agent.get("/panel/handoffs/rows")).text) == []
    other = await sign_in(api, "other_agent")
    await agent.post(f"/panel/conversations/{first}/hand-off")
    assert listed((await other.get("/panel/handoffs/rows")).text) == []
    assert (await other.get("/panel/handoffs/rows?tenant=shop")).status_code == 200
    assert listed((await other.get("/panel/handoffs/rows?tenant=shop")).text) == []
