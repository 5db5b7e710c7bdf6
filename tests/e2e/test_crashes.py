"""Worker crashes and Redis losing everything: Postgres is the record, the sweeper recovers."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.core.models import InboundMessage, OutboundMessage, Turn
from tests.standins.whaticket import Scripted

from .conftest import CUSTOMER, TENANT, Stack, answer_for, baileys_text, eventually

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]


async def _outbound(stack: Stack) -> OutboundMessage | None:
    rows = await stack.rows(OutboundMessage)
    assert len(rows) <= 1
    return rows[0] if rows else None


async def test_worker_sigkilled_during_gemini_call(stack: Stack) -> None:
    """Killed before the reply was stored: the turn is generated again (a second LLM call is
    the only way to answer) and delivered exactly once."""
    stack.gemini.set_delay(3.0)
    text = "Qual o prazo de entrega?"
    assert (await stack.post(baileys_text("KILL-LLM-1", text))).json()["status"] == "accepted"

    async def reached() -> bool:
        return stack.gemini.request_count >= 1

    await eventually(reached, within=10, what="the Gemini call to start")
    await asyncio.sleep(1.0)
    assert stack.worker is not None
    stack.worker.kill()
    assert await _outbound(stack) is None  # died before storing a reply
    stack.gemini.set_delay(0.0)

    worker = stack.start_worker()
    await stack.wait_worker_ready()
    sent = await stack.wait_sent(1, number=CUSTOMER, within=25)
    assert sent[0]["text"] == answer_for(text)

    async def answered() -> bool:
        outbound = await _outbound(stack)
        return outbound is not None and outbound.status == "sent"

    await eventually(answered, within=10, what="the reply to be recorded as sent")
    await asyncio.sleep(1.5)  # a sweep period: no second delivery may follow
    assert len(stack.whaticket.sent()) == 1
    (turn,) = await stack.rows(Turn)
    assert turn.status == "answered"
    outbound = await _outbound(stack)
    assert outbound is not None
    assert outbound.attempts == 1
    assert stack.gemini.request_count == 2  # the killed call, and the one that answered
    # Recovered by the sweeper (the dead worker's lease lapsed), not after arq's in-progress
    # key expired (job timeout + 10 s).
    assert worker.events("sweeper.requeued"), worker.text()


async def test_worker_sigkilled_during_send_never_asks_the_model_again(stack: Stack) -> None:
    """Killed after the reply was stored, while Whaticket was processing the send: the new
    worker re-sends the stored text (counted as an ambiguous send), never calls Gemini again."""
    # The first send is slow, and Whaticket delivers it although we are gone by then.
    stack.whaticket.script(
        Scripted(status=200, body={"mensagem": "Mensagem enviada"}, delay=3.0, deliver=True)
    )
    text = "Quero trocar um produto"
    assert (await stack.post(baileys_text("KILL-SEND-1", text))).json()["status"] == "accepted"

    async def sending() -> bool:
        outbound = await _outbound(stack)
        return outbound is not None and outbound.status == "sending"

    await eventually(sending, within=10, what="the send to start")
    await asyncio.sleep(1.0)
    assert stack.worker is not None
    stack.worker.kill()
    assert stack.gemini.request_count == 1

    worker = stack.start_worker()
    await stack.wait_worker_ready()

    async def sent_recorded() -> OutboundMessage | None:
        outbound = await _outbound(stack)
        return outbound if outbound is not None and outbound.status == "sent" else None

    outbound = await eventually(sent_recorded, within=25, what="the re-send to be recorded")
    await asyncio.sleep(1.5)
    assert stack.gemini.request_count == 1  # no second LLM call after a stored reply
    assert outbound.attempts == 2  # the interrupted send and exactly one more
    sends = [r for r in stack.whaticket.requests() if r["path"] == "/api/messages/send"]
    assert len(sends) == 2
    delivered = stack.sent_to(CUSTOMER)
    # Whaticket finished the interrupted send after we died, and the retry went out too: the
    # documented ambiguous window (promise 2). It is counted, never silent.
    assert len(delivered) == 2
    assert {d["text"] for d in delivered} == {answer_for(text)}
    assert await stack.worker_metric(worker, "atende_ambiguous_sends_total", tenant=TENANT) == 1
    assert worker.events("send.ambiguous_retry"), worker.text()
    (turn,) = await stack.rows(Turn)
    assert turn.status == "answered"


async def test_sigterm_mid_turn_finishes_the_turn_then_exits(stack: Stack) -> None:
    """A rollout or scale-down: the worker stops taking jobs, lets the turn in flight finish
    (the chart gives it longer than the job timeout), answers once and exits cleanly."""
    stack.gemini.set_delay(2.0)
    worker = stack.worker
    assert worker is not None
    text = "Qual o horário de atendimento?"
    assert (await stack.post(baileys_text("TERM-1", text))).json()["status"] == "accepted"

    async def calling() -> bool:
        return stack.gemini.request_count == 1

    await eventually(calling, within=10, what="the model call")
    code = await asyncio.to_thread(worker.terminate, 15)
    assert code == 0, worker.text()
    assert [d["text"] for d in stack.sent_to(CUSTOMER)] == [answer_for(text)]
    [turn] = await stack.rows(Turn)
    assert turn.status == "answered"
    assert stack.gemini.request_count == 1


async def test_sigterm_on_idle_worker_exits_cleanly(stack: Stack) -> None:
    worker = stack.worker
    assert worker is not None
    started = time.monotonic()
    code = worker.terminate(timeout=10)
    elapsed = time.monotonic() - started
    assert code == 0, worker.text()
    assert elapsed < 5, f"took {elapsed:.1f}s"
    assert "Traceback" not in worker.text()


async def test_redis_flushed_with_a_backlog_sweeper_recovers(stack: Stack) -> None:
    assert stack.worker is not None
    assert stack.worker.terminate() == 0
    numbers = [f"55119888800{i:02d}" for i in range(5)]
    for i, number in enumerate(numbers):
        response = await stack.post(baileys_text(f"FLUSH-{i}", f"mensagem {i}", phone=number))
        assert response.json() == {"status": "accepted"}
    assert await stack.count(InboundMessage) == 5
    queued = await stack.redis.zrange("arq:queue", 0, -1)
    # The api queued one job per message (beside, maybe, the apply's knowledge embedding).
    assert len([job for job in queued if job.startswith(b"in:")]) == 5
    await stack.redis.flushall()
    assert await stack.redis.zcard("arq:queue") == 0

    worker = stack.start_worker()
    await stack.wait_worker_ready()

    async def all_answered() -> bool:
        return all(stack.sent_to(n) for n in numbers)

    await eventually(all_answered, within=20, what="a reply to every message")
    await asyncio.sleep(1.5)  # a sweep period: no duplicates may follow
    for i, number in enumerate(numbers):
        delivered = stack.sent_to(number)
        assert [d["text"] for d in delivered] == [answer_for(f"mensagem {i}")], number
    turns = await stack.rows(Turn)
    assert [t.status for t in turns] == ["answered"] * 5
    assert stack.gemini.request_count == 5
    assert worker.events("sweeper.requeued"), worker.text()
