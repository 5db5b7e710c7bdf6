"""Dependencies failing: degrade honestly, dead-letter, and let an operator replay."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from services.core.models import DeadLetter, OutboundMessage, Turn

from .conftest import CUSTOMER, FALLBACK, Stack, answer_for, baileys_text, eventually

# Settings the stack runs with (conftest): the give-up age and the breaker's open period.
GIVE_UP_SECONDS = 8.0
BREAKER_OPEN_SECONDS = 1.0
TURN_MAX_ATTEMPTS = 4  # the platform default
SEND_MAX_ATTEMPTS = 3
_LEAKY = re.compile(r"503|unavailable|overloaded|error|traceback|gemini|exception", re.I)


def _dlq_ids(listing: str) -> list[int]:
    return [int(line.split()[0]) for line in listing.splitlines()[1:] if line.strip()]


pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]


async def test_gemini_503_storm_breaker_fallback_then_replay(stack: Stack) -> None:
    stack.gemini.storm(503)
    numbers = [f"55119777700{i:02d}" for i in range(4)]
    texts = {n: f"pergunta {i}" for i, n in enumerate(numbers)}
    for i, number in enumerate(numbers):
        response = await stack.post(baileys_text(f"STORM-{i}", texts[number], phone=number))
        assert response.json() == {"status": "accepted"}

    assert stack.worker is not None
    worker = stack.worker

    async def opened() -> float | None:
        return time.monotonic() if worker.events("breaker_opened") else None

    opened_at = await eventually(opened, within=15, what="the Gemini breaker to open")
    calls_at_open = stack.gemini.request_count

    async def all_fell_back() -> bool:
        return all(stack.sent_to(n) for n in numbers)

    await eventually(all_fell_back, within=GIVE_UP_SECONDS + 15, what="every fallback")
    after_open = time.monotonic() - opened_at
    await asyncio.sleep(1.5)  # nothing else may follow

    # Every customer got the tenant's honest fallback, once, and nothing of the error.
    for number in numbers:
        assert [d["text"] for d in stack.sent_to(number)] == [FALLBACK], number
    for delivery in stack.whaticket.sent():
        assert not _LEAKY.search(delivery["text"]), delivery["text"]

    # The breaker kept the storm away from Gemini: once open, one probe per open period at
    # most (without it, four turns retrying with backoff would each keep calling), and the
    # calls it refused are counted.
    calls = stack.gemini.request_count
    assert calls - calls_at_open <= after_open / BREAKER_OPEN_SECONDS + 2, (calls, calls_at_open)
    assert calls <= len(numbers) * TURN_MAX_ATTEMPTS, calls
    rejected = await stack.worker_metric(
        worker, "atende_breaker_rejections_total", dependency="gemini"
    )
    assert rejected > 0

    letters = await stack.rows(DeadLetter)
    assert len(letters) == len(numbers)
    assert {d.stage for d in letters} == {"llm"}
    assert all(d.status == "open" for d in letters)
    assert {t.status for t in await stack.rows(Turn)} == {"dead"}

    code, listing, err = await stack.run_cli("dlq", "list")
    assert code == 0, err
    assert sorted(_dlq_ids(listing)) == sorted(d.id for d in letters), listing
    assert "llm" in listing

    # The storm ends; once the breaker is no longer open the operator replays everything.
    stack.gemini.storm(None)

    async def breaker_not_open() -> bool:
        return not bool(await stack.redis.exists("breaker:{gemini}:open"))

    await eventually(breaker_not_open, within=10, what="the breaker's open period to end")
    calls_before_replay = stack.gemini.request_count
    code, out, err = await stack.run_cli("dlq", "replay", *(str(d.id) for d in letters))
    assert code == 0, err
    assert out.count("replayed") == len(letters), out

    async def all_answered() -> bool:
        return all(len(stack.sent_to(n)) >= 2 for n in numbers)

    await eventually(all_answered, within=20, what="the real answers after the replay")
    await asyncio.sleep(1.0)
    for number in numbers:
        assert [d["text"] for d in stack.sent_to(number)] == [FALLBACK, answer_for(texts[number])]
    assert stack.gemini.request_count - calls_before_replay == len(numbers)
    assert {d.status for d in await stack.rows(DeadLetter)} == {"replayed"}


async def test_whaticket_session_down_dead_letter_then_replay_without_new_llm_call(
    stack: Stack,
) -> None:
    stack.whaticket.set_mode(session_down=True)
    text = "Vocês entregam no sábado?"
    assert (await stack.post(baileys_text("DOWN-1", text))).json()["status"] == "accepted"

    async def dead_letter() -> DeadLetter | None:
        rows = await stack.rows(DeadLetter)
        return rows[0] if rows else None

    letter = await eventually(dead_letter, within=25, what="the send to be dead-lettered")
    assert letter.stage == "send"
    assert letter.error_class == "whaticket_session_down"
    assert letter.attempts == SEND_MAX_ATTEMPTS
    assert letter.context["reply"] == answer_for(text)
    sends = [r for r in stack.whaticket.requests() if r["path"] == "/api/messages/send"]
    assert len(sends) == SEND_MAX_ATTEMPTS  # retried, then given up
    assert stack.whaticket.sent() == []
    (outbound,) = await stack.rows(OutboundMessage)
    assert (outbound.status, outbound.kind, outbound.text) == ("failed", "reply", answer_for(text))
    (turn,) = await stack.rows(Turn)
    assert turn.status == "dead"
    assert stack.gemini.request_count == 1

    code, listing, err = await stack.run_cli("dlq", "list")
    assert code == 0, err
    assert _dlq_ids(listing) == [letter.id]
    assert "send" in listing

    stack.whaticket.set_mode(session_down=False)
    code, out, err = await stack.run_cli("dlq", "replay", str(letter.id))
    assert code == 0, err
    assert "replayed" in out, out

    sent = await stack.wait_sent(1, number=CUSTOMER, within=20)
    assert sent[0]["text"] == answer_for(text)  # the stored reply, not a new generation

    async def answered() -> bool:
        (turn,) = await stack.rows(Turn)
        return turn.status == "answered"

    await eventually(answered, within=10, what="the turn to be answered")
    # A second replay of the same letter is refused and changes nothing.
    code, out, err = await stack.run_cli("dlq", "replay", str(letter.id))
    assert code == 0, err
    assert "not open" in out, out
    await asyncio.sleep(1.0)
    assert len(stack.whaticket.sent()) == 1
    assert stack.gemini.request_count == 1
    (outbound,) = await stack.rows(OutboundMessage)
    assert outbound.status == "sent"
    assert [d.status for d in await stack.rows(DeadLetter)] == ["replayed"]
