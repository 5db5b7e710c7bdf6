"""WhaticketClient against the stand-in backend of each variant, over real HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from services.cli.embedded import free_port
from services.core.channels.whaticket.client import (
    SendResult,
    WhaticketClient,
    normalize_number,
    protect_mustache,
)
from services.core.channels.whaticket.variants import SAAS_GENERIC_ERROR, SPECS
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.tenants.spec import Variant
from tests.fixtures.egress import loopback_egress
from tests.standins.whaticket import Scripted, WhaticketStandIn, render_mustache

TOKEN = "tok-9f1c2e7b4d"
WRONG_TOKEN = "wrong-token-5a5a5a"
NUMBER = "5511999998888"
ALL = list(Variant)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[Variant, WhaticketStandIn]]:
    started = {v: WhaticketStandIn(str(v), [TOKEN]).start() for v in Variant}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture(autouse=True)
def _fresh(servers: dict[Variant, WhaticketStandIn]) -> Iterator[None]:
    yield
    for server in servers.values():
        server.reset()


@pytest_asyncio.fixture
async def client() -> AsyncIterator[WhaticketClient]:
    async with loopback_egress(5.0) as http:
        yield WhaticketClient(http)


async def _send(
    client: WhaticketClient,
    server: WhaticketStandIn,
    variant: Variant,
    *,
    token: str = TOKEN,
    number: str = NUMBER,
    body: str = "Olá! Seu pedido foi enviado.",
) -> SendResult:
    return await client.send_text(
        base_url=server.url, variant=variant, token=token, number=number, body=body
    )


def _visible(variant: Variant, body: str) -> str:
    """What the customer reads when Whaticket delivers ``body`` unchanged."""
    return SPECS[variant].delivered_prefix + body


# --- success ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ALL)
async def test_send_is_delivered_with_digits_and_body(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    server = servers[variant]
    result = await _send(client, server, variant, number="+55 11 99999-8888", body="Oi, tudo bem?")

    [sent] = server.sent()
    assert sent["number"] == NUMBER
    assert sent["body"] == "Oi, tudo bem?"
    assert sent["text"] == _visible(variant, "Oi, tudo bem?")
    assert "Authorization" not in sent["headers"]
    assert result.queued is (variant is Variant.TICKETZ)
    assert result.unexpected_body is False
    expected = SPECS[variant].success_body
    assert result.provider_response == (dict(expected) if expected is not None else None)
    [request] = server.requests()
    assert request["body"] == {"number": NUMBER, "body": "Oi, tudo bem?"}


async def test_jid_suffix_is_stripped(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn]
) -> None:
    server = servers[Variant.COMMUNITY]
    await _send(client, server, Variant.COMMUNITY, number=f"{NUMBER}@s.whatsapp.net")
    assert [s["number"] for s in server.sent()] == [NUMBER]


async def test_unexpected_success_body_is_still_success(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn]
) -> None:
    server = servers[Variant.SAAS]
    server.script(Scripted(200, {"ok": 1}, deliver=True), Scripted(200, "<html>frontend</html>"))

    first = await _send(client, server, Variant.SAAS)
    second = await _send(client, server, Variant.SAAS)

    assert first == SendResult({"ok": 1}, queued=False, unexpected_body=True)
    assert second.unexpected_body is True
    assert second.provider_response == {"raw": "<html>frontend</html>"}


# --- auth --------------------------------------------------------------------------------------


def _assert_secret_free(exc: BaseException, *secrets: str) -> None:
    rendered = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    for secret in secrets:
        assert secret not in rendered


@pytest.mark.parametrize("variant", ALL)
async def test_wrong_token_is_permanent_and_secret_free(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    server = servers[variant]
    with pytest.raises(PermanentError) as caught:
        await _send(client, server, variant, token=WRONG_TOKEN)

    assert caught.value.error_class == "whaticket_auth"
    assert caught.value.ambiguous is False
    _assert_secret_free(caught.value, WRONG_TOKEN, TOKEN)
    assert server.sent() == []
    [request] = server.requests()
    assert request["status"] == SPECS[variant].bad_token[0]


@pytest.mark.parametrize("variant", ALL)
async def test_stand_in_auth_statuses_match_the_variant_table(
    servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    url = servers[variant].url + "/api/messages/send"
    payload = {"number": NUMBER, "body": "x"}
    async with httpx.AsyncClient(trust_env=False) as http:
        missing = await http.post(url, json=payload)
        wrong = await http.post(url, json=payload, headers={"Authorization": "Bearer nope"})
    spec = SPECS[variant]
    assert (missing.status_code, missing.json()["error"]) == spec.missing_token
    assert (wrong.status_code, wrong.json()["error"]) == spec.bad_token


@pytest.mark.parametrize("token", ["", "two words", "line\nbreak"])
async def test_malformed_token_is_refused_before_any_request(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], token: str
) -> None:
    # saas-classic's default connection token is "": an empty Bearer could match a stranger's.
    server = servers[Variant.SAAS]
    with pytest.raises(PermanentError) as caught:
        await _send(client, server, Variant.SAAS, token=token)
    assert caught.value.error_class == "whaticket_auth"
    assert server.requests() == []


# --- session down ------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ALL)
async def test_session_down_is_transient_and_not_ambiguous(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    # community/saas/v6 answer 400 ERR_WAPP_NOT_INITIALIZED; ticketz's number check fails inside
    # the try whose catch answers 500 ERR_INTERNAL_ERROR, before anything is enqueued.
    server = servers[variant]
    server.set_mode(session_down=True)
    with pytest.raises(TransientError) as caught:
        await _send(client, server, variant)

    assert caught.value.error_class == "whaticket_session_down"
    assert caught.value.ambiguous is False
    assert server.sent() == []


@pytest.mark.parametrize("error", ["Connection Closed", SAAS_GENERIC_ERROR, "ERR_SENDING_WAPP_MSG"])
async def test_saas_session_down_messages(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], error: str
) -> None:
    server = servers[Variant.SAAS]
    server.set_mode(session_down=True, session_down_error=error)
    with pytest.raises(TransientError) as caught:
        await _send(client, server, Variant.SAAS)
    assert caught.value.error_class == "whaticket_session_down"


async def test_ticketz_session_down_after_enqueue_fails_silently(
    servers: dict[Variant, WhaticketStandIn],
) -> None:
    # Only a raw JID skips ticketz's number check: then 200 "queued" and nothing arrives. Our
    # client always sends digits, so it sees the 500 above instead; this documents the stand-in.
    server = servers[Variant.TICKETZ]
    server.set_mode(session_down=True)
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(
            server.url + "/api/messages/send",
            json={"number": f"{NUMBER}@s.whatsapp.net", "body": "oi"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert response.json() == {"mensagem": "Message added to queue"}
    assert server.sent() == []
    assert [d["body"] for d in server.dropped()] == ["oi"]


# --- invalid numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ALL)
@pytest.mark.parametrize("number", ["55 11 abc", "(11) 9999-8888", "123", "1" * 16, "120363@g.us"])
async def test_bad_number_is_refused_before_any_request(
    client: WhaticketClient,
    servers: dict[Variant, WhaticketStandIn],
    variant: Variant,
    number: str,
) -> None:
    server = servers[variant]
    with pytest.raises(PermanentError) as caught:
        await _send(client, server, variant, number=number)
    assert caught.value.error_class == "whaticket_bad_number"
    assert number not in str(caught.value)
    assert server.requests() == []


UNREGISTERED = {
    # community: ERR_WAPP_INVALID_CONTACT; v6: "Este número não está cadastrado no whatsapp".
    Variant.COMMUNITY: (PermanentError, "whaticket_invalid_contact"),
    Variant.V6: (PermanentError, "whaticket_invalid_contact"),
    # saas-classic turns ERR_CHECK_NUMBER (a plain Error) into the generic "tente novamente";
    # ticketz into 500 ERR_INTERNAL_ERROR. Neither tells a dead session from an unknown number.
    Variant.SAAS: (TransientError, "whaticket_session_down"),
    Variant.TICKETZ: (TransientError, "whaticket_session_down"),
}


@pytest.mark.parametrize("variant", ALL)
async def test_number_not_on_whatsapp(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    server = servers[variant]
    server.set_mode(unregistered=[NUMBER])
    kind, error_class = UNREGISTERED[variant]
    with pytest.raises(kind) as caught:
        await _send(client, server, variant)
    assert caught.value.error_class == error_class
    assert server.sent() == []


@pytest.mark.parametrize(
    ("status", "error", "kind", "error_class"),
    [
        (400, "ERR_WAPP_NOT_INITIALIZED", TransientError, "whaticket_session_down"),
        (400, "Connection Closed", TransientError, "whaticket_session_down"),
        (400, "ERR_SENDING_WAPP_MSG", TransientError, "whaticket_session_down"),
        (400, "ERR_WAPP_CHECK_CONTACT", TransientError, "whaticket_session_down"),
        (400, SAAS_GENERIC_ERROR, TransientError, "whaticket_session_down"),
        (400, "ERR_WAPP_INVALID_CONTACT", PermanentError, "whaticket_invalid_contact"),
        (
            400,
            "Invalid number format. Only numbers is allowed.",
            PermanentError,
            "whaticket_invalid_contact",
        ),
        (400, "ERR_CHECK_NUMBER", PermanentError, "whaticket_invalid_contact"),
        (
            400,
            "Este número não está cadastrado no whatsapp",
            PermanentError,
            "whaticket_invalid_contact",
        ),
        (400, "ERR_NO_DEF_WAPP_FOUND", PermanentError, "whaticket_rejected"),
        (404, "ERR_WHATSAPP_NOT_FOUND", PermanentError, "whaticket_not_found"),
        (
            403,
            "Invalid token. We'll try to assign a new one on next request",
            PermanentError,
            "whaticket_auth",
        ),
        (502, "bad gateway", TransientError, "whaticket_502"),
        (503, "unavailable", TransientError, "whaticket_503"),
        (302, "moved", PermanentError, "whaticket_unexpected_status"),
    ],
)
async def test_error_bodies_are_classified(
    client: WhaticketClient,
    servers: dict[Variant, WhaticketStandIn],
    status: int,
    error: str,
    kind: type[DependencyError],
    error_class: str,
) -> None:
    server = servers[Variant.COMMUNITY]
    server.script(Scripted(status, {"error": error}))
    with pytest.raises(kind) as caught:
        await _send(client, server, Variant.COMMUNITY)
    assert caught.value.error_class == error_class
    assert caught.value.ambiguous is False


# --- 5xx, rate limits, timeouts, refused connections -------------------------------------------


@pytest.mark.parametrize("variant", ALL)
async def test_500_is_transient_and_ambiguous(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    server = servers[variant]
    server.set_mode(fail=500)
    with pytest.raises(TransientError) as caught:
        await _send(client, server, variant)
    assert caught.value.error_class == "whaticket_500"
    assert caught.value.ambiguous is True


async def test_500_after_the_send_really_delivered(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn]
) -> None:
    # Why a 500 is ambiguous: the crash can come after WhatsApp took the message.
    server = servers[Variant.SAAS]
    server.script(Scripted(500, {"error": "Internal server error"}, deliver=True))
    with pytest.raises(TransientError) as caught:
        await _send(client, server, Variant.SAAS, body="pedido 42")
    assert caught.value.ambiguous is True
    assert [s["body"] for s in server.sent()] == ["pedido 42"]


async def test_429_and_504_carry_retry_after_and_ambiguity(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn]
) -> None:
    server = servers[Variant.V6]
    server.script(
        Scripted(429, {"error": "Too many requests"}, headers={"Retry-After": "7"}),
        Scripted(504, "<html>504 Gateway Time-out</html>"),
    )
    with pytest.raises(TransientError) as limited:
        await _send(client, server, Variant.V6)
    with pytest.raises(TransientError) as gateway:
        await _send(client, server, Variant.V6)
    assert (limited.value.error_class, limited.value.retry_after) == ("whaticket_rate_limited", 7.0)
    assert limited.value.ambiguous is False
    assert (gateway.value.error_class, gateway.value.ambiguous) == ("whaticket_504", True)


@pytest.mark.parametrize("variant", ALL)
async def test_read_timeout_is_ambiguous(
    servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    server = servers[variant]
    server.set_mode(delay=2.0)
    timeout = httpx.Timeout(5.0, read=0.2)
    async with loopback_egress(limits=timeout) as http:
        with pytest.raises(TransientError) as caught:
            await _send(WhaticketClient(http), server, variant)
    assert caught.value.error_class == "whaticket_timeout"
    assert caught.value.ambiguous is True
    _assert_secret_free(caught.value, TOKEN)


@pytest.mark.parametrize("variant", ALL)
async def test_connection_refused_is_not_ambiguous(
    client: WhaticketClient, variant: Variant
) -> None:
    with pytest.raises(TransientError) as caught:
        await client.send_text(
            base_url=f"http://127.0.0.1:{free_port()}",
            variant=variant,
            token=TOKEN,
            number=NUMBER,
            body="x",
        )
    assert caught.value.error_class == "whaticket_connect"
    assert caught.value.ambiguous is False
    _assert_secret_free(caught.value, TOKEN)


@pytest.mark.parametrize("base_url", ["ftp://127.0.0.1:1", "http://[::1"])
async def test_unusable_base_url_is_permanent(client: WhaticketClient, base_url: str) -> None:
    with pytest.raises(PermanentError) as caught:
        await client.send_text(
            base_url=base_url, variant=Variant.SAAS, token=TOKEN, number=NUMBER, body="x"
        )
    assert caught.value.error_class == "whaticket_bad_url"


# --- Mustache ----------------------------------------------------------------------------------

TEMPLATE_LIKE = "Use {{name}} no modelo; {{#x}}seção{{/x}} e {{ sozinho"


@pytest.mark.parametrize("variant", ALL)
async def test_braces_reach_the_customer_literally(
    client: WhaticketClient, servers: dict[Variant, WhaticketStandIn], variant: Variant
) -> None:
    # community renders the body through mustache.js once and saas-classic twice; there
    # {{name}} would become the contact's name, the section would vanish and the stray "{{"
    # would make the render throw (a 400). A leading set-delimiter tag per render switches the
    # delimiters to ones the text lacks, so Mustache outputs the rest literally. ticketz and v6
    # do not render on this route, so their bodies go out untouched. The stand-in renders like
    # mustache.js (cross-checked against mustache.js 4.2.0), so "text" is what the customer sees.
    server = servers[variant]
    await _send(client, server, variant, body=TEMPLATE_LIKE)

    [sent] = server.sent()
    prefix = {
        Variant.COMMUNITY: "{{=<% %>=}}",
        Variant.SAAS: "{{=[% %]=}}{{=<% %>=}}",
        Variant.TICKETZ: "",
        Variant.V6: "",
    }[variant]
    assert sent["body"] == prefix + TEMPLATE_LIKE
    assert sent["text"] == _visible(variant, TEMPLATE_LIKE)


def test_unprotected_braces_would_be_rendered() -> None:
    assert render_mustache("Oi {{name}}", {"name": "Maria"}) == "Oi Maria"
    assert render_mustache(protect_mustache("Oi {{name}}", 1), {"name": "Maria"}) == "Oi {{name}}"


@pytest.mark.parametrize(
    "body",
    ["plain text", "<% {{name}} [% x", "{{=| |=}} |name|", "\n{{name}} after a blank line", "{{"],
)
@pytest.mark.parametrize("passes", [0, 1, 2, 3])
def test_protection_survives_each_render(body: str, passes: int) -> None:
    protected = protect_mustache(body, passes)
    if "{{" not in body or passes == 0:
        assert protected == body
    rendered = protected
    for _ in range(passes):
        rendered = render_mustache(rendered, {"name": "Maria"})
    # A leading blank line survives too: mustache.js drops a standalone tag's line, so the
    # protection adds one sacrificial newline (the stand-in does not model that trimming).
    assert rendered.lstrip("\n") == body.lstrip("\n")


def test_normalize_number() -> None:
    assert normalize_number(" +55 11 99999-8888 ") == NUMBER
    assert normalize_number(f"{NUMBER}@c.us") == NUMBER
    with pytest.raises(PermanentError):
        normalize_number("٥٥١١٩٩٩٩٩٨٨٨٨")  # Arabic-Indic digits are digits, but not for WhatsApp


# --- the stand-in's other endpoints and its own process ---------------------------------------


async def test_login_list_and_move_a_ticket(servers: dict[Variant, WhaticketStandIn]) -> None:
    server = servers[Variant.COMMUNITY]
    queued = server.add_ticket("5511999990002", name="Ana", queue_id=1)
    async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
        bad = await http.post("/auth/login", json={"email": "bot@example.com", "password": "x"})
        login = await http.post(
            "/auth/login", json={"email": "bot@example.com", "password": "bot-password"}
        )
        auth = {"Authorization": f"Bearer {login.json()['token']}"}
        hidden = await http.get("/tickets", params={"searchParam": "5511999990002"}, headers=auth)
        found = await http.get(
            "/tickets",
            params={"searchParam": "5511999990002", "showAll": "true", "queueIds": "[1]"},
            headers=auth,
        )
        moved = await http.put(
            f"/tickets/{queued['id']}", json={"status": "open", "userId": 1}, headers=auth
        )
        missing = await http.put("/tickets/999", json={"status": "open"}, headers=auth)
        refreshed = await http.post("/auth/refresh_token")  # the jrt cookie is in the jar
        no_header = await http.get("/tickets")
        garbage = await http.get("/tickets", headers={"Authorization": "Bearer garbage"})

    assert (bad.status_code, bad.json()) == (401, {"error": "ERR_INVALID_CREDENTIALS"})
    assert hidden.json()["count"] == 0  # §8: without queueIds only queueId NULL tickets show
    assert [t["id"] for t in found.json()["tickets"]] == [queued["id"]]
    assert moved.json()["status"] == "open"
    assert moved.json()["user"] == {"id": 1, "name": "Bot"}
    assert moved.json()["queue"]["id"] == 1
    assert (missing.status_code, missing.json()) == (404, {"error": "ERR_NO_TICKET_FOUND"})
    assert refreshed.status_code == 200
    assert "token" in refreshed.json()
    assert no_header.status_code == 401
    assert garbage.status_code == 403


@pytest.fixture
def standin_process() -> Iterator[str]:
    """``python -m tests.standins.whaticket`` as another process would run it; yields its URL."""
    command = [sys.executable, "-m", "tests.standins.whaticket", "--port", "0", "--variant"]
    command += ["saas", "--token", TOKEN, "--token", "second-token"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:  # the with closes the stdout pipe
            assert proc.stdout is not None
            yield str(json.loads(proc.stdout.readline())["url"])
        finally:
            proc.terminate()
            assert proc.wait(timeout=5) == 0  # SIGTERM is a clean shutdown


async def test_stand_in_driven_from_another_process(
    client: WhaticketClient, standin_process: str
) -> None:
    url = standin_process

    async def send(token: str, body: str) -> SendResult:
        return await client.send_text(
            base_url=url, variant=Variant.SAAS, token=token, number=NUMBER, body=body
        )

    async with httpx.AsyncClient(base_url=url, trust_env=False) as control:
        await control.post("/_control/mode", json={"session_down": True})
        with pytest.raises(TransientError):
            await send(TOKEN, "a")
        await control.post("/_control/mode", json={"session_down": False})
        await control.post("/_control/script", json=[{"status": 500, "body": None}])
        with pytest.raises(TransientError):
            await send(TOKEN, "b")
        await send("second-token", "c")
        sent = (await control.get("/_control/sent")).json()
        requests = (await control.get("/_control/requests")).json()
        await control.post("/_control/reset")
        after_reset = (await control.get("/_control/sent")).json()

    assert [(s["body"], s["connection"]) for s in sent] == [("c", 1)]
    assert [r["status"] for r in requests] == [400, 500, 200]
    assert after_reset == []
