"""The real GeminiClient (google-genai SDK) against the stand-in speaking the REST protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.cli.embedded import free_port
from services.core.errors import PermanentError, TransientError
from services.core.llm.factory import GeminiClientFactory
from services.core.llm.gemini import GeminiClient
from services.core.llm.types import ChatMessage, HandoffRequest, LlmRequest
from tests.standins.gemini import GeminiStandin, Reply

API_KEY = "test-key"
MODEL = "gemini-2.5-flash"
ROOT = Path(__file__).resolve().parents[3]


def _request(*texts: str, allow_handoff: bool = True, system: str = "Você é a Ana.") -> LlmRequest:
    history = [ChatMessage("user" if i % 2 == 0 else "model", t) for i, t in enumerate(texts)]
    return LlmRequest(
        model=MODEL, system_prompt=system, history=history, allow_handoff=allow_handoff
    )


@pytest.fixture(scope="module")
def standin() -> Iterator[GeminiStandin]:
    with GeminiStandin(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def gemini(standin: GeminiStandin) -> GeminiStandin:
    standin.reset()
    return standin


@pytest.fixture
async def client(gemini: GeminiStandin) -> AsyncIterator[GeminiClient]:
    llm = GeminiClient(API_KEY, base_url=gemini.base_url, timeout_seconds=2.0)
    yield llm
    await llm.aclose()


async def test_text_reply_with_usage(client: GeminiClient, gemini: GeminiStandin) -> None:
    gemini.script(Reply.text("Olá! Como posso ajudar?", prompt_tokens=12, output_tokens=4))

    reply = await client.generate(_request("oi"))

    assert reply.text == "Olá! Como posso ajudar?"
    assert (reply.prompt_tokens, reply.output_tokens) == (12, 4)
    assert reply.handoff is None
    assert not reply.blocked
    assert reply.model == MODEL


async def test_default_responder_echoes_last_user_text(
    client: GeminiClient, gemini: GeminiStandin
) -> None:
    reply = await client.generate(_request("oi", "Olá!", "qual o horário?"))
    assert reply.text == "Resposta: qual o horário?"


async def test_system_prompt_and_history_reach_the_server(
    client: GeminiClient, gemini: GeminiStandin
) -> None:
    await client.generate(_request("oi", "Olá!", "quero falar com alguém", system="Seja breve."))

    seen = gemini.last_request
    assert seen.path == f"/v1beta/models/{MODEL}:generateContent"
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert seen.system_instruction == "Seja breve."
    assert seen.contents == [("user", "oi"), ("model", "Olá!"), ("user", "quero falar com alguém")]
    decl = seen.body["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "transfer_to_human"
    assert sorted(decl["parameters"]["required"]) == ["reason", "summary"]
    assert set(decl["parameters"]["properties"]) == {"reason", "summary"}
    assert seen.body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


async def test_no_tool_when_handoff_not_allowed(
    client: GeminiClient, gemini: GeminiStandin
) -> None:
    await client.generate(_request("oi", allow_handoff=False))
    assert gemini.last_request.function_names == []
    assert "toolConfig" not in gemini.last_request.body


async def test_transfer_to_human_is_parsed(client: GeminiClient, gemini: GeminiStandin) -> None:
    gemini.script(Reply.handoff(reason="pediu humano", summary="cliente quer cancelar"))

    reply = await client.generate(_request("quero um atendente"))

    assert reply.handoff == HandoffRequest(reason="pediu humano", summary="cliente quer cancelar")
    assert reply.text == ""


async def test_handoff_with_text_keeps_both(client: GeminiClient, gemini: GeminiStandin) -> None:
    gemini.script(
        Reply.function_call(
            "transfer_to_human", {"reason": "r", "summary": "s"}, text="Vou transferir."
        )
    )
    reply = await client.generate(_request("humano"))
    assert reply.text == "Vou transferir."
    assert reply.handoff == HandoffRequest(reason="r", summary="s")


@pytest.mark.parametrize(
    "block",
    [
        Reply.safety_block(),
        Reply.safety_block(prompt=False, reason="SAFETY"),
        Reply.safety_block(prompt=False, reason="PROHIBITED_CONTENT"),
    ],
    ids=["prompt", "finish-safety", "finish-prohibited"],
)
async def test_safety_block(client: GeminiClient, gemini: GeminiStandin, block: Reply) -> None:
    gemini.script(block)
    reply = await client.generate(_request("algo proibido"))
    assert reply.blocked
    assert reply.text == ""
    assert reply.handoff is None


async def test_429_is_transient_with_retry_after(
    client: GeminiClient, gemini: GeminiStandin
) -> None:
    gemini.script(Reply.error(429, retry_delay="58s"))

    with pytest.raises(TransientError) as caught:
        await client.generate(_request("oi"))

    assert caught.value.error_class == "gemini_429"
    assert caught.value.retry_after == 58.0
    assert "quota" not in str(caught.value)  # never the provider's message
    assert gemini.request_count == 1  # SDK retries are off


@pytest.mark.parametrize("code", [503, 500, 504])
async def test_server_errors_are_transient(
    client: GeminiClient, gemini: GeminiStandin, code: int
) -> None:
    gemini.script(Reply.error(code))

    with pytest.raises(TransientError) as caught:
        await client.generate(_request("oi"))

    assert caught.value.error_class == f"gemini_{code}"
    assert str(caught.value).startswith(f"Gemini {code} ")
    assert gemini.request_count == 1


async def test_bad_key_is_permanent_and_secret_free(gemini: GeminiStandin) -> None:
    secret = "AIzaSy-very-secret-tenant-key"
    llm = GeminiClient(secret, base_url=gemini.base_url, timeout_seconds=2.0)
    try:
        with pytest.raises(PermanentError) as caught:
            await llm.generate(_request("minha senha é 1234"))
    finally:
        await llm.aclose()

    error = caught.value
    assert error.error_class == "gemini_auth"
    assert str(error) == "Gemini 400 INVALID_ARGUMENT"
    for leak in (secret, "1234", "API key not valid"):
        assert leak not in str(error)
        assert leak not in repr(error)
    # Not even a logged traceback carries the provider's message (it is not chained).
    rendered = "".join(traceback.format_exception(error))
    assert "API key not valid" not in rendered
    assert secret not in rendered


@pytest.mark.parametrize(
    ("reply", "error_class"),
    [
        (Reply.error(400), "gemini_400"),
        (Reply.error(403), "gemini_auth"),
        (Reply.error(401), "gemini_auth"),
        (Reply.error(404), "gemini_404"),
    ],
)
async def test_client_errors_are_permanent(
    client: GeminiClient, gemini: GeminiStandin, reply: Reply, error_class: str
) -> None:
    gemini.script(reply)
    with pytest.raises(PermanentError) as caught:
        await client.generate(_request("oi"))
    assert caught.value.error_class == error_class


async def test_empty_reply_is_transient(client: GeminiClient, gemini: GeminiStandin) -> None:
    gemini.script(Reply.empty())
    with pytest.raises(TransientError) as caught:
        await client.generate(_request("oi"))
    assert caught.value.error_class == "gemini_empty"


async def test_timeout_is_transient(gemini: GeminiStandin) -> None:
    gemini.set_delay(2.0)
    llm = GeminiClient(API_KEY, base_url=gemini.base_url, timeout_seconds=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as caught:
            await llm.generate(_request("oi"))
    finally:
        await llm.aclose()
        gemini.set_delay(0)
    assert caught.value.error_class == "gemini_timeout"
    assert time.monotonic() - started < 1.5


async def test_hang_times_out(gemini: GeminiStandin) -> None:
    gemini.hang()
    llm = GeminiClient(API_KEY, base_url=gemini.base_url, timeout_seconds=0.3)
    try:
        with pytest.raises(TransientError) as caught:
            await llm.generate(_request("oi"))
    finally:
        gemini.hang(False)
        await llm.aclose()
    assert caught.value.error_class == "gemini_timeout"


async def test_connection_refused_is_transient() -> None:
    llm = GeminiClient(API_KEY, base_url=f"http://127.0.0.1:{free_port()}", timeout_seconds=1)
    started = time.monotonic()
    try:
        with pytest.raises(TransientError) as caught:
            await llm.generate(_request("oi"))
    finally:
        await llm.aclose()
    assert caught.value.error_class == "gemini_connect"
    assert time.monotonic() - started < 1.0


async def test_storm_mode_fails_every_request(client: GeminiClient, gemini: GeminiStandin) -> None:
    gemini.storm(503)
    for _ in range(3):
        with pytest.raises(TransientError):
            await client.generate(_request("oi"))
    gemini.storm(None)
    assert (await client.generate(_request("oi"))).text == "Resposta: oi"
    assert gemini.request_count == 4


async def test_factory_caches_per_key_and_base_url(gemini: GeminiStandin) -> None:
    factory = GeminiClientFactory(timeout_seconds=2.0)
    first = factory.get(API_KEY, gemini.base_url)
    assert factory.get(API_KEY, gemini.base_url) is first
    assert factory.get("other-key", gemini.base_url) is not first
    assert factory.get(API_KEY, None) is not first
    assert len(factory) == 3
    assert (await first.generate(_request("oi"))).text == "Resposta: oi"
    await factory.aclose_all()
    assert len(factory) == 0
    assert factory.get(API_KEY, gemini.base_url) is not first
    await factory.aclose_all()


@pytest.fixture(scope="module")
def standin_process() -> Iterator[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost"}
    with subprocess.Popen(  # the with closes its stdout pipe
        [sys.executable, "-m", "tests.standins.gemini", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("READY "), line
            yield line.removeprefix("READY ")
        finally:
            proc.terminate()
            assert proc.wait(timeout=5) == 0


async def test_separate_process_driven_over_http(standin_process: str) -> None:
    base = standin_process
    async with httpx.AsyncClient(base_url=base, timeout=5) as control:
        (await control.post("/_control/reset")).raise_for_status()
        script = [{"error": 429, "retry_delay": "7s"}, {"handoff": {"reason": "r", "summary": "s"}}]
        (await control.post("/_control/script", json=script)).raise_for_status()
        llm = GeminiClient(API_KEY, base_url=base, timeout_seconds=2.0)
        try:
            with pytest.raises(TransientError) as caught:
                await llm.generate(_request("oi"))
            assert caught.value.retry_after == 7.0
            assert (await llm.generate(_request("oi"))).handoff == HandoffRequest("r", "s")
            assert (await llm.generate(_request("tudo bem?"))).text == "Resposta: tudo bem?"
            (await control.post("/_control/mode", json={"storm": 503})).raise_for_status()
            with pytest.raises(TransientError):
                await llm.generate(_request("oi"))
            (await control.post("/_control/mode", json={"storm": None})).raise_for_status()
        finally:
            await llm.aclose()
        log = (await control.get("/_control/requests")).json()
    assert log["count"] == 4
    assert log["requests"][2]["body"]["contents"][0]["parts"][0]["text"] == "tudo bem?"
    assert json.dumps(log).count("x-goog-api-key") == 4
