"""A stored reply is re-sent, never regenerated; exhausted sends are dead-lettered, replayable."""

from __future__ import annotations

import pytest

from services.core.db import transaction
from services.core.dlq.service import replay
from services.core.errors import InvalidInput
from tests.fixtures.turns import PHONE, Harness
from tests.standins.gemini import Reply

ANSWER = "Seu boleto vence dia 10."


async def test_send_retried_after_session_recovers_without_a_second_model_call(
    harness: Harness,
) -> None:
    harness.gemini.script(Reply.text(ANSWER))
    harness.whaticket.set_mode(session_down=True)
    inbound_id = await harness.ingest("quando vence meu boleto?")

    for attempt in (1, 2):
        later = await harness.attempt(inbound_id)
        assert later is not None
        assert later.reason == "whaticket_session_down"
        [out] = await harness.outbound()
        assert (out.status, out.attempts, out.text) == ("pending", attempt, ANSWER)
        [turn] = await harness.turns()
        assert turn.status == "replying"
    assert harness.whaticket.sent() == []

    harness.whaticket.set_mode(session_down=False)
    await harness.run(inbound_id)

    assert harness.gemini.request_count == 1
    assert [(s["number"], s["text"]) for s in harness.whaticket.sent()] == [(PHONE, ANSWER)]
    [turn] = await harness.turns()
    assert turn.status == "answered"
    [out] = await harness.outbound()
    assert (out.status, out.attempts) == ("sent", 3)
    assert await harness.dead_letters() == []


async def _dead_send(harness: Harness) -> int:
    harness.gemini.script(Reply.text(ANSWER))
    harness.whaticket.set_mode(session_down=True)
    inbound_id = await harness.ingest("quando vence meu boleto?")
    retries = await harness.run(inbound_id)
    assert [r.reason for r in retries] == ["whaticket_session_down"] * 2
    return inbound_id


async def test_send_attempts_exhausted_go_to_the_dead_letter_queue(harness: Harness) -> None:
    inbound_id = await _dead_send(harness)

    assert harness.whaticket.sent() == []
    assert harness.gemini.request_count == 1
    [turn] = await harness.turns()
    assert turn.status == "dead"
    assert turn.error_class == "whaticket_session_down"
    [out] = await harness.outbound()
    assert (out.status, out.attempts) == ("failed", 3)
    [letter] = await harness.dead_letters()
    assert (letter.stage, letter.error_class, letter.status) == (
        "send",
        "whaticket_session_down",
        "open",
    )
    assert letter.attempts == 3
    assert letter.turn_id == turn.id
    assert letter.context["reply"] == ANSWER
    assert [m["text"] for m in letter.context["messages"]] == ["quando vence meu boleto?"]
    assert letter.context["contact"]["phone"] == PHONE
    assert "wt-token" not in letter.error

    # The job running again does nothing more: the turn is closed.
    await harness.run(inbound_id)
    assert harness.gemini.request_count == 1
    assert len(await harness.dead_letters()) == 1


async def test_replay_of_a_send_dead_letter_delivers_the_stored_text(harness: Harness) -> None:
    await _dead_send(harness)
    [letter] = await harness.dead_letters()
    harness.whaticket.set_mode(session_down=False)

    async with transaction(harness.sessionmaker) as session:
        replayed = await replay(session, letter.id)
    # The Whaticket breaker opened on the third failure: the replayed job honours its defer
    # (as arq would) and waits it out instead of burning its send attempts on refusals.
    retries = await harness.run(replayed.inbound_id, max_sleep=2.5)
    assert [r.reason for r in retries] in ([], ["whaticket breaker open"])

    assert harness.gemini.request_count == 1
    assert [(s["number"], s["text"]) for s in harness.whaticket.sent()] == [(PHONE, ANSWER)]
    [turn] = await harness.turns()
    assert turn.status == "answered"
    [out] = await harness.outbound()
    assert out.status == "sent"
    [letter] = await harness.dead_letters()
    assert letter.status == "replayed"
    assert letter.resolved_at is not None

    with pytest.raises(InvalidInput):
        async with transaction(harness.sessionmaker) as session:
            await replay(session, letter.id)
    await harness.run(replayed.inbound_id)
    assert len(harness.whaticket.sent()) == 1
    assert harness.gemini.request_count == 1
