"""Gemini failing: degrade honestly (fallback + dead letter), never leak, never hammer Gemini."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import pytest

from services.core.db import transaction
from services.core.dlq.service import replay
from services.core.errors import InvalidInput
from tests.fixtures.turns import FALLBACK, PHONE, Harness
from tests.standins.gemini import Reply

LEAKS = ("503", "UNAVAILABLE", "overloaded", "Gemini", "gemini", "error", "API key")


async def _drive(harness: Harness, inbound_id: int, *, seconds: float) -> list[tuple[str, int]]:
    """Run the job until done; per retry, its reason and how many Gemini calls it made."""
    rounds: list[tuple[str, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        before = harness.gemini.request_count
        later = await harness.attempt(inbound_id)
        if later is None:
            return rounds
        rounds.append((later.reason, harness.gemini.request_count - before))
        await asyncio.sleep(min(later.defer, 0.05))
    raise AssertionError(f"still retrying after {seconds}s: {rounds[-5:]}")


async def test_503_storm_opens_the_breaker_then_gives_up_with_the_fallback(
    make_harness: Callable[..., Harness],
) -> None:
    # Open long enough that the round after the third failure meets it open however slowly
    # this machine runs the attempts; the give-up still leaves room for half-open probes.
    harness = make_harness(
        turn_max_attempts=100, turn_give_up_after_seconds=4, breaker_open_seconds=1.5
    )
    await harness.apply_tenant()
    harness.gemini.storm(503)
    inbound_id = await harness.ingest("minha fatura veio errada")
    started = time.monotonic()

    rounds = await _drive(harness, inbound_id, seconds=12)

    assert time.monotonic() - started >= 3.5  # gave up only after turn_give_up_after_seconds
    assert rounds[:3] == [("gemini_503", 1)] * 3  # threshold 3: then the breaker opens
    assert rounds[3] == ("gemini breaker open", 0)
    # While open, the stand-in sees nothing; only the occasional half-open probe gets through.
    assert all(calls == 0 for reason, calls in rounds if reason == "gemini breaker open")
    refused = sum(1 for reason, _ in rounds if reason == "gemini breaker open")
    probes = harness.gemini.request_count - 3
    assert refused > probes
    assert harness.gemini.request_count <= 3 + 4  # open 1.5 s: at most ~3 probes in 4 s

    assert harness.delivered() == [FALLBACK]
    for text in harness.delivered():
        assert not any(leak in text for leak in LEAKS)
    [turn] = await harness.turns()
    assert turn.status == "dead"
    [out] = await harness.outbound()
    assert (out.kind, out.status, out.text) == ("fallback", "sent", FALLBACK)
    [letter] = await harness.dead_letters()
    assert letter.stage == "llm"
    assert letter.error_class in ("gemini_503", "gemini_breaker_open")
    assert [m["text"] for m in letter.context["messages"]] == ["minha fatura veio errada"]
    assert letter.context["contact"]["phone"] == PHONE

    # The job running again changes nothing: one fallback, one dead letter.
    harness.gemini.storm(None)
    await harness.run(inbound_id)
    assert harness.delivered() == [FALLBACK]
    assert len(await harness.dead_letters()) == 1


async def test_storm_that_ends_before_give_up_gets_the_real_answer(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(turn_max_attempts=100, turn_give_up_after_seconds=5)
    await harness.apply_tenant()
    harness.gemini.script(Reply.text("Vou revisar sua fatura agora."))
    harness.gemini.storm(503)
    inbound_id = await harness.ingest("minha fatura veio errada")

    for _ in range(3):
        later = await harness.attempt(inbound_id)
        assert later is not None
        assert later.reason == "gemini_503"
    assert await harness.deps.breaker("gemini:platform").state() == "open"
    harness.gemini.storm(None)  # Gemini recovers

    rounds = await _drive(harness, inbound_id, seconds=4)

    assert {reason for reason, _ in rounds} <= {"gemini breaker open"}
    assert harness.gemini.request_count == 4  # three failures, one successful probe
    assert harness.delivered() == ["Vou revisar sua fatura agora."]
    [turn] = await harness.turns()
    assert turn.status == "answered"
    assert turn.attempts == 3
    assert await harness.dead_letters() == []
    assert await harness.deps.breaker("gemini:platform").state() == "closed"


async def test_invalid_api_key_dead_letters_at_once_without_leaking_the_key(
    make_harness: Callable[..., Harness],
) -> None:
    tenant_key = "AIzaTenantSecretKey-0123456789"
    harness = make_harness()
    await harness.apply_tenant(gemini_key=tenant_key)  # the stand-in only accepts "test-key"
    inbound_id = await harness.ingest("oi")

    assert await harness.run(inbound_id) == []  # no retry: a bad key will not get better

    [call] = harness.gemini.requests
    assert call.api_key == tenant_key  # the tenant's own key wins over the platform key
    assert harness.delivered() == [FALLBACK]
    [letter] = await harness.dead_letters()
    assert (letter.stage, letter.error_class, letter.attempts) == ("llm", "gemini_auth", 1)
    assert tenant_key not in letter.error
    assert tenant_key not in json.dumps(letter.context)
    [turn] = await harness.turns()
    assert turn.status == "dead"
    assert turn.last_error is not None
    assert tenant_key not in turn.last_error
    assert await harness.deps.breaker("gemini:platform").state() == "closed"  # not Gemini's fault


async def test_replay_of_an_llm_dead_letter_gets_a_real_answer_once(
    make_harness: Callable[..., Harness],
) -> None:
    tenant_key = "AIzaTenantSecretKey-0123456789"
    harness = make_harness()
    await harness.apply_tenant(gemini_key=tenant_key)
    inbound_id = await harness.ingest("qual o prazo de instalação?")
    await harness.run(inbound_id)
    [letter] = await harness.dead_letters()
    assert harness.delivered() == [FALLBACK]

    harness.gemini.set_api_key(tenant_key)  # the operator fixed the key
    harness.gemini.script(Reply.text("A instalação leva até 3 dias úteis."))
    async with transaction(harness.sessionmaker) as session:
        replayed = await replay(session, letter.id)
    await harness.run(replayed.inbound_id)

    assert harness.delivered() == [FALLBACK, "A instalação leva até 3 dias úteis."]
    assert harness.gemini.request_count == 2
    dead, answered = await harness.turns()
    assert (dead.status, answered.status) == ("dead", "answered")
    assert (await harness.inbound(inbound_id)).turn_id == answered.id

    with pytest.raises(InvalidInput):
        async with transaction(harness.sessionmaker) as session:
            await replay(session, letter.id)
    await harness.run(replayed.inbound_id)
    assert harness.gemini.request_count == 2
    assert len(harness.delivered()) == 2
