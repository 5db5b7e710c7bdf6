"""Run-time switches and rate limits as a customer and an operator notice them: a paused bot stays
silent but loses nothing and answers the backlog once on resume; a forced model is the one
called; a contact over its limit is answered at the limited pace, one turn per burst, with one
"wait a moment" message instead of silence."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY
from sqlalchemy import text

from services.core.db import transaction
from services.core.tenants import switches
from services.core.turns.backlog import gather_backlog
from tests.fixtures.turns import Harness

OTHER_PHONE = "5511977776666"
# spec.messages.wait's pt-BR default
WAIT_MESSAGE = "Recebi sua mensagem! Só um momento, já te respondo."


async def _pause(h: Harness, reason: str = "bot misbehaving") -> None:
    async with transaction(h.sessionmaker) as session:
        await switches.pause(session, "acme", reason=reason, actor="test")


async def _resume(h: Harness, ttl_minutes: int = 60) -> list[int]:
    assert h.tenant is not None
    async with transaction(h.sessionmaker) as session:
        await switches.resume(session, "acme", actor="test")
        backlog = await gather_backlog(session, h.tenant.id, context_ttl_minutes=ttl_minutes)
    return backlog.queue


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_paused_tenant_stores_but_does_not_answer_then_answers_the_backlog_once(
    harness: Harness,
) -> None:
    await _pause(harness)
    first = await harness.ingest("Oi, meu pedido atrasou")
    second = await harness.ingest("É o pedido 4411")
    for message in (first, second):
        assert await harness.attempt(message) is None  # the job ends: nothing to retry
    assert harness.gemini.request_count == 0
    assert harness.delivered() == []
    assert await harness.turns() == []
    assert (await harness.inbound(second)).text == "É o pedido 4411"  # stored all the same

    queue = await _resume(harness)
    assert queue == [first]  # one job per conversation
    await harness.run(first)
    await harness.run(second)  # the original job, come back: nothing left to do
    assert harness.gemini.request_count == 1
    asked = harness.gemini.last_request.last_user_text
    assert "pedido atrasou" in asked
    assert "4411" in asked
    assert len(harness.delivered()) == 1
    assert [t.status for t in await harness.turns()] == ["answered"]


async def test_backlog_older_than_the_context_ttl_is_closed_unanswered_on_resume(
    harness: Harness,
) -> None:
    await _pause(harness)
    old = await harness.ingest("Alguém aí?")
    fresh = await harness.ingest("Oi", phone=OTHER_PHONE)
    async with transaction(harness.sessionmaker) as session:
        await session.execute(
            text(
                "UPDATE inbound_messages SET received_at = now() - interval '2 hours' WHERE id=:i"
            ),
            {"i": old},
        )
    queue = await _resume(harness, ttl_minutes=60)
    assert queue == [fresh]
    await harness.run(fresh)
    assert [m["number"] for m in harness.whaticket.sent()] == [OTHER_PHONE]
    statuses = sorted(t.status for t in await harness.turns())
    assert statuses == ["answered", "expired"]
    assert (await harness.inbound(old)).turn_id is not None  # closed, visible, not pending


async def test_a_forced_model_is_the_one_called_and_clearing_restores_the_spec(
    harness: Harness,
) -> None:
    async with transaction(harness.sessionmaker) as session:
        await switches.force_model(session, "acme", "gemini-2.5-pro", actor="test")
    await harness.run(await harness.ingest("Oi"))
    assert harness.gemini.last_request.path.endswith("/models/gemini-2.5-pro:generateContent")

    async with transaction(harness.sessionmaker) as session:
        await switches.force_model(session, "acme", None, actor="test")
    await harness.run(await harness.ingest("De novo"))
    assert harness.gemini.last_request.path.endswith("/models/gemini-2.5-flash:generateContent")


async def test_feature_flags_are_read_per_turn(harness: Harness) -> None:
    await harness.run(await harness.ingest("Oi"))
    assert "transfer_to_human" in harness.gemini.last_request.function_names
    await harness.apply_tenant(features={"handoff": False, "knowledge": False})
    await harness.run(await harness.ingest("Oi de novo"))
    request = harness.gemini.last_request
    assert "transfer_to_human" not in request.function_names
    assert "Pix" not in request.system_instruction  # the knowledge base is off too


async def test_a_contact_over_its_limit_is_answered_at_the_limited_pace(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(rate_limit_notice_after_seconds=10)
    await h.apply_tenant(rateLimits={"perContactPerMinute": 1, "perTenantPerMinute": 100})
    limited_before = _metric("atende_rate_limited_total", tenant="acme", dimension="contact")
    await h.run(await h.ingest("Primeira pergunta"))
    assert len(h.delivered()) == 1

    second = await h.ingest("Segunda pergunta")
    third = await h.ingest("Terceira pergunta")
    later = await h.attempt(second)
    assert later is not None, "the second turn within a minute must wait"
    assert 55 < later.defer < 61
    assert "rate limited: contact" in later.reason
    # Waiting a minute is longer than the bound: one "wait a moment", not silence...
    assert h.delivered()[1:] == [WAIT_MESSAGE]
    later_again = await h.attempt(third)
    assert later_again is not None
    assert h.delivered()[1:] == [WAIT_MESSAGE]  # ...and only once
    assert h.gemini.request_count == 1  # the model was not asked
    assert _metric("atende_rate_limited_total", tenant="acme", dimension="contact") == (
        limited_before + 2
    )

    # A minute later (the contact's bucket drained): one turn answers both messages.
    await h.redis.delete(*[key async for key in h.redis.scan_iter("rl:*:contact:*")])
    await h.run(second)
    await h.run(third)
    assert h.gemini.request_count == 2
    asked = h.gemini.last_request.last_user_text
    assert "Segunda" in asked
    assert "Terceira" in asked
    assert len(h.delivered()) == 3
    assert [t.status for t in await h.turns()] == ["answered", "answered"]


async def test_the_tenant_limit_defers_other_contacts_too(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness()
    await h.apply_tenant(rateLimits={"perContactPerMinute": 1, "perTenantPerMinute": 2})
    await h.run(await h.ingest("Oi"))  # the tenant's burst is one (2 per minute, halved)
    later = await h.attempt(await h.ingest("Oi", phone=OTHER_PHONE))
    assert later is not None
    assert "rate limited: tenant" in later.reason
    assert 25 < later.defer < 31
    assert h.gemini.request_count == 1
