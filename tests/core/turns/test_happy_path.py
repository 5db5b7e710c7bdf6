"""One customer message, one model call, one delivery — on every Whaticket variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.core import jobs
from services.core.inbound.receiver import WebhookReceiver
from services.core.inbound.spool import Spool
from tests.fixtures.turns import KNOWLEDGE, PERSONA, PHONE, WEBHOOK_SECRET, Harness
from tests.standins.gemini import Reply


@pytest.mark.parametrize("whaticket_variant", ["community", "saas", "ticketz", "v6"])
async def test_one_message_one_answer(harness: Harness, whaticket_variant: str) -> None:
    answer = "Olá, Maria! Nosso horário é de seg a sex, 8h às 18h."
    harness.gemini.script(Reply.text(answer))
    inbound_id = await harness.ingest("Qual o horário de vocês?", correlation_id="corr-happy-1")

    assert await harness.run(inbound_id) == []

    [call] = harness.gemini.requests
    assert PERSONA in call.system_instruction
    # Only the knowledge that matches the question is in the request.
    hours_entry, payment_entry = KNOWLEDGE
    assert hours_entry["question"] in call.system_instruction
    assert hours_entry["answer"] in call.system_instruction
    assert payment_entry["answer"] not in call.system_instruction
    assert "Qual o horário de vocês?" in call.last_user_text
    assert call.api_key == "test-key"

    [delivery] = harness.whaticket.sent()
    assert delivery["number"] == PHONE
    assert answer in delivery["text"]
    if whaticket_variant != "v6":  # v6 prefixes an LRM mark and a space
        assert delivery["text"] == answer

    [turn] = await harness.turns()
    assert turn.status == "answered"
    assert turn.correlation_id == "corr-happy-1"
    assert turn.model == "gemini-2.5-flash"
    [out] = await harness.outbound()
    assert (out.status, out.kind, out.text, out.attempts) == ("sent", "reply", answer, 1)
    assert (await harness.inbound(inbound_id)).turn_id == turn.id

    # The job running again (arq is at-least-once) changes nothing.
    assert await harness.run(inbound_id) == []
    assert harness.gemini.request_count == 1
    assert len(harness.whaticket.sent()) == 1


async def test_webhook_to_reply_with_one_correlation_id(harness: Harness, tmp_path: Path) -> None:
    """The receiver stores and enqueues; the job it enqueued answers, under one correlation id."""
    receiver = WebhookReceiver(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.tenants,
        Spool(harness.deps.redis, tmp_path),
    )
    body = {
        "key": {"id": "3EB0WEBHOOK0001", "remoteJid": f"{PHONE}@s.whatsapp.net", "fromMe": False},
        "message": {"extendedTextMessage": {"text": "Vocês aceitam Pix?"}},
        "messageTimestamp": {"low": 1767225600, "high": 0, "unsigned": True},
        "pushName": "Maria",
    }
    harness.gemini.script(Reply.text("Sim, aceitamos Pix!"))

    async def read_body() -> bytes:
        return json.dumps(body).encode()

    received = await receiver.handle("acme", "main", WEBHOOK_SECRET, read_body, "corr-webhook")
    again = await receiver.handle("acme", "main", WEBHOOK_SECRET, read_body, "corr-retry")

    assert received.outcome == "accepted"
    assert again.outcome == "duplicate"
    [job] = await harness.deps.redis.queued_jobs(queue_name=jobs.QUEUE)
    assert (job.function, tuple(job.args)) == (
        jobs.PROCESS_INBOUND,
        (received.inbound_id, "corr-webhook"),
    )
    inbound_id = job.args[0]
    assert isinstance(inbound_id, int)
    await harness.run(inbound_id)

    assert harness.delivered() == ["Sim, aceitamos Pix!"]
    assert "Vocês aceitam Pix?" in harness.gemini.last_request.last_user_text
    [turn] = await harness.turns()
    assert (turn.status, turn.correlation_id) == ("answered", "corr-webhook")
