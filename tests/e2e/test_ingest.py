"""The webhook path through the real api process and the reply through the real worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from services.core.models import Contact, InboundMessage, OutboundMessage, Turn

from .conftest import (
    CUSTOMER,
    GEMINI_KEY,
    TENANT,
    WEBHOOK_SECRET,
    WHATICKET_TOKEN,
    Stack,
    answer_for,
    baileys_text,
    eventually,
)

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]


async def _answered_turns(stack: Stack) -> list[Turn]:
    return [t for t in await stack.rows(Turn) if t.status == "answered"]


async def test_happy_path_one_reply_one_correlation_id_no_secrets(stack: Stack) -> None:
    text = "Oi! Quais as formas de pagamento?"
    response = await stack.post(baileys_text("HAPPY-1", text))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted"}
    correlation_id = response.headers["x-request-id"]

    sent = await stack.wait_sent(1, number=CUSTOMER)
    assert sent[0]["text"] == answer_for(text)
    assert sent[0]["connection"] == 0  # sent with the connection's own token
    await eventually(lambda: _answered_turns(stack), within=10, what="the turn to be answered")
    await asyncio.sleep(0.5)  # nothing else may follow
    assert len(stack.whaticket.sent()) == 1
    assert stack.gemini.request_count == 1
    assert stack.gemini.last_request.api_key == GEMINI_KEY  # the key was really used...

    # One correlation id from the webhook, through the rows, to the worker's send.
    (inbound,) = await stack.rows(InboundMessage)
    (turn,) = await stack.rows(Turn)
    assert inbound.correlation_id == turn.correlation_id == correlation_id
    assert stack.api is not None
    assert stack.worker is not None
    webhook_lines = [
        e
        for e in stack.api.events("http.request")
        if e.get("correlation_id") == correlation_id and e["path"].startswith("/hooks/")
    ]
    assert len(webhook_lines) == 1, stack.api.text()
    assert webhook_lines[0]["status"] == 200
    assert webhook_lines[0]["path"] == f"/hooks/whaticket/{TENANT}/main/***"
    worker_events = {
        e["event"] for e in stack.worker.logs() if e.get("correlation_id") == correlation_id
    }
    assert "send.sent" in worker_events, stack.worker.text()

    # ...and never written down by either process.
    for proc in stack.processes:
        logged = proc.text() + proc.stdout_path.read_text(errors="replace")
        for secret in (WEBHOOK_SECRET, WHATICKET_TOKEN, GEMINI_KEY):
            assert secret not in logged, f"{proc.name} logged a secret"
        assert "Traceback" not in logged, proc.name


async def test_duplicate_webhook_five_times_concurrently(stack: Stack) -> None:
    payload = baileys_text("DUP-1", "Meu pedido não chegou")
    responses = await asyncio.gather(*(stack.post(payload) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    outcomes = sorted(r.json()["status"] for r in responses)
    assert outcomes == ["accepted"] + ["duplicate"] * 4

    await stack.wait_sent(1, number=CUSTOMER)
    await eventually(lambda: _answered_turns(stack), within=10, what="the turn to be answered")
    await asyncio.sleep(1.5)  # longer than a sweep period: a stray re-run would show by now
    assert await stack.count(InboundMessage) == 1
    assert await stack.count(Turn) == 1
    assert await stack.count(OutboundMessage) == 1
    assert len(stack.whaticket.sent()) == 1
    assert stack.gemini.request_count == 1


async def _oversized_chunks(total: int) -> AsyncIterator[bytes]:
    """A body sent without Content-Length (chunked): the cap must hold while streaming."""
    yield b'{"key": {"id": "BIG", "remoteJid": "5511999990001@s.whatsapp.net"}, "pad": "'
    chunk = b"x" * 65536
    for _ in range(total // len(chunk)):
        yield chunk
    yield b'"}'


async def test_bad_input_is_refused_and_nothing_is_stored(stack: Stack) -> None:
    big = baileys_text("BIG-1", "x" * 300_000)
    cases: list[tuple[str, httpx.Response, int]] = [
        ("oversized", await stack.post(big), 413),
        (
            "oversized chunked",
            await stack.http.post(stack.hook_path(), content=_oversized_chunks(400_000)),
            413,
        ),
        (
            "not json",
            await stack.http.post(
                stack.hook_path(),
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            400,
        ),
        ("json, not an object", await stack.http.post(stack.hook_path(), json=[1, 2]), 400),
        ("no key", await stack.post({"hello": "world"}), 422),
        ("key.id not a string", await stack.post({"key": {"id": 5, "remoteJid": "x@y"}}), 422),
        (
            "wrong secret",
            await stack.http.post(stack.hook_path(secret="wrong"), json=baileys_text("W", "oi")),
            401,
        ),
        (
            "unknown tenant",
            await stack.http.post(stack.hook_path(tenant="nobody"), json=baileys_text("U", "oi")),
            404,
        ),
    ]
    for name, response, expected in cases:
        assert response.status_code == expected, (name, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json"), name
        assert "Traceback" not in response.text, name

    assert await stack.count(InboundMessage) == 0
    assert await stack.count(Contact) == 0
    assert stack.api is not None
    assert stack.api.returncode is None
    assert "Traceback" not in stack.api.text()

    # The same api process still serves: ready, and a good message goes all the way through.
    assert (await stack.http.get("/readyz")).status_code == 200
    response = await stack.post(baileys_text("GOOD-1", "Oi"))
    assert response.json() == {"status": "accepted"}
    sent = await stack.wait_sent(1, number=CUSTOMER)
    assert sent[0]["text"] == answer_for("Oi")
    assert stack.gemini.request_count == 1
