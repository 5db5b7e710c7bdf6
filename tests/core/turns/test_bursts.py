"""Bursts are one turn; a reply made stale by a newer message is not sent as if nothing happened."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply, text_body

BURST = ("oi", "minha internet caiu", "desde ontem à noite")


async def test_three_stored_messages_get_one_answer(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Sinto muito! Vou verificar sua conexão."))
    ids = [await harness.ingest(text) for text in BURST]

    await harness.run(ids[0])
    for inbound_id in ids:  # the other messages' jobs find nothing left to do
        await harness.run(inbound_id)

    [call] = harness.gemini.requests
    assert call.contents[-1][0] == "user"
    for text in BURST:
        assert text in call.last_user_text
    assert harness.delivered() == ["Sinto muito! Vou verificar sua conexão."]
    [turn] = await harness.turns()
    assert turn.status == "answered"
    for inbound_id in ids:
        assert (await harness.inbound(inbound_id)).turn_id == turn.id


async def test_debounced_concurrent_jobs_answer_once(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    await harness.apply_tenant(conversation={"debounceSeconds": 1})
    harness.gemini.script(Reply.text("Sinto muito! Vou verificar sua conexão."))
    ids = [await harness.ingest(text) for text in BURST]

    started = time.monotonic()
    await asyncio.gather(*(harness.run(i, max_sleep=0.05) for i in ids))

    assert time.monotonic() - started >= 0.9  # waited for the customer to pause
    [call] = harness.gemini.requests
    for text in BURST:
        assert text in call.last_user_text
    assert harness.delivered() == ["Sinto muito! Vou verificar sua conexão."]
    [turn] = await harness.turns()
    assert turn.status == "answered"


async def test_stale_reply_is_superseded_and_the_next_run_answers_both(
    harness: Harness,
) -> None:
    slow = Reply(body=text_body("Resposta só para o primeiro."), delay=0.6)
    harness.gemini.script(slow, Reply(body=text_body("Resposta para as duas mensagens.")))
    first = await harness.ingest("qual o valor do plano?")

    job = asyncio.create_task(harness.run(first))
    deadline = time.monotonic() + 2
    while harness.gemini.request_count == 0:  # the model is thinking
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    second = await harness.ingest("e tem fidelidade?")
    await job
    await harness.run(second)

    first_call, second_call = harness.gemini.requests
    assert "qual o valor do plano?" in first_call.last_user_text
    assert "e tem fidelidade?" not in first_call.last_user_text
    assert "qual o valor do plano?" in second_call.last_user_text
    assert "e tem fidelidade?" in second_call.last_user_text
    assert harness.delivered() == ["Resposta para as duas mensagens."]

    stale, answered = await harness.turns()
    assert stale.status == "superseded"
    assert answered.status == "answered"
    [out] = await harness.outbound()
    assert out.turn_id == answered.id
    assert (await harness.inbound(first)).turn_id == answered.id
    assert (await harness.inbound(second)).turn_id == answered.id
