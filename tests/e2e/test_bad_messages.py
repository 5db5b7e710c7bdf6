"""Messages Postgres cannot hold, through the real api process: each is answered by itself (a
400/422 with its reason, or stored as cleaned), counted by tenant and reason, and the good
messages posted at the same moment, which share its batch, are all stored and answered 200."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.core.inbound.spool import PENDING
from services.core.models import InboundMessage, OutboundMessage, Tenant, Turn
from tests.fuzz.webhook_rounds import Rounds, Targets
from tests.standins.meta_graph import GraphStandIn, notification, signed, text_message

from .conftest import CUSTOMER, TENANT, Stack, eventually, tenant_yaml
from .meta_tenant import APP_SECRET, PHONE_NUMBER_ID, apply_meta_tenant, graph

__all__ = ["graph"]  # the fixture, shared with the other Cloud API tests

CALM = "calm"


def raw(
    msg_id: str,
    *,
    text: str = '"oi, tudo bem?"',
    remote: str = f'"{CUSTOMER}@s.whatsapp.net"',
    timestamp: str = "1760000000",
    name: str = '"Maria"',
) -> bytes:
    """A Baileys message written by hand, so it can hold what ``json.dumps`` never writes."""
    return (
        f'{{"key": {{"remoteJid": {remote}, "fromMe": false, "id": "{msg_id}"}},'
        f' "message": {{"conversation": {text}}}, "messageTimestamp": {timestamp},'
        f' "pushName": {name}}}'
    ).encode()


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    status: int
    reason: str | None = None  # the refusal's reason, None when it is stored
    text: str | None = None  # what is stored, when it is


DEEP = b'{"key": {"remoteJid": "x@s.whatsapp.net", "id": "D"}, "n": %s}' % (
    b"[" * 100_000 + b"]" * 100_000
)
LONG_2_63 = '{"low": 1, "high": 9223372036854775807, "unsigned": true}'
CASES = [
    Case("nan", raw("NAN", timestamp="NaN"), 400, "json_constant"),
    Case("infinity", raw("INF", timestamp="-Infinity"), 400, "json_constant"),
    Case("float-overflow", raw("F400", timestamp="1e400"), 400, "json_constant"),
    Case("integer-5000-digits", raw("INT", timestamp="9" * 5000), 400, "number_too_long"),
    Case("deep-nesting", DEEP, 400, "too_deep"),
    Case("nesting-100", raw("N100", text="[" * 100 + "]" * 100), 400, "too_deep"),
    Case("surrogate-text", raw("SUR", text='"oi \\ud800 tudo"'), 200, text="oi \ufffd tudo"),
    Case("surrogate-name", raw("SURN", name='"Ma\\udfffria"'), 200, text="oi, tudo bem?"),
    Case("surrogate-id", raw("SUR\\ud800ID"), 200, text="oi, tudo bem?"),
    Case("nul-text", raw("NUL", text='"oi\\u0000 tudo"'), 200, text="oi tudo"),
    Case("id-300", raw("I" * 300), 422, "schema"),
    Case("phone-40-digits", raw("P40", remote=f'"{"9" * 40}@s.whatsapp.net"'), 422, "too_long"),
    Case("lid-100-digits", raw("L100", remote=f'"{"7" * 100}@lid"'), 422, "too_long"),
    Case("timestamp-2**64", raw("T64", timestamp=str(2**64)), 200, text="oi, tudo bem?"),
    Case("timestamp-long-2**63", raw("TL", timestamp=LONG_2_63), 200, text="oi, tudo bem?"),
    Case("timestamp-digits", raw("TS", timestamp=f'"{"9" * 5000}"'), 200, text="oi, tudo bem?"),
    Case("timestamp-superscript", raw("TSUP", timestamp='"\\u00b2"'), 200, text="oi, tudo bem?"),
    Case("phone-superscript", raw("PSUP", remote='"\\u00b2\\u00b2@s.whatsapp.net"'), 422, "schema"),
]


async def api_metric(stack: Stack, name: str, **labels: str) -> float:
    body = (await stack.http.get("/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def good(case: str, index: int) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"55119888{index:05d}@s.whatsapp.net", "fromMe": False,
                "id": f"GOOD-{case}-{index}"},
        "message": {"conversation": f"mensagem boa {index}"},
        "messageTimestamp": 1_760_000_000,
        "pushName": "Cliente",
    }  # fmt: skip


def _said(answer: httpx.Response | BaseException) -> str:
    if isinstance(answer, httpx.Response):
        return f"{answer.status_code} {answer.text[:160]}"
    return f"nothing: {type(answer).__name__}"


async def _post_with_good_ones(stack: Stack, case: Case) -> list[str]:
    """The bad body and good messages at once (they share a batch); what went wrong, if any."""
    headers = {"content-type": "application/json"}
    posts = [stack.http.post(stack.hook_path(), json=good(case.name, i)) for i in range(6)]
    bad, *goods = await asyncio.gather(
        stack.http.post(stack.hook_path(), content=case.body, headers=headers),
        *posts,
        return_exceptions=True,
    )
    problems = [
        f"{case.name}: a good message answered {_said(g)}"
        for g in goods
        if not isinstance(g, httpx.Response) or g.json() != {"status": "accepted"}
    ]
    if not isinstance(bad, httpx.Response) or bad.status_code != case.status:
        problems.append(f"{case.name}: answered {_said(bad)}")
    elif case.reason is None and bad.json() != {"status": "accepted"}:
        problems.append(f"{case.name}: answered {_said(bad)}, not stored")
    elif case.reason is not None and not bad.json()["message"].startswith(f"{case.reason}:"):
        problems.append(f"{case.name}: reason {bad.json()} is not {case.reason}")
    return problems


async def test_each_bad_message_fails_alone_and_never_with_a_500(stack: Stack) -> None:
    problems: list[str] = []
    for case in CASES:
        problems += await _post_with_good_ones(stack, case)
    assert not problems, "\n".join(problems)

    messages = await stack.rows(InboundMessage)
    by_id = {m.provider_msg_id: m for m in messages}
    for case in CASES:
        goods = [f"GOOD-{case.name}-{i}" for i in range(6)]
        assert all(g in by_id for g in goods), f"{case.name}: a good message was lost"
    stored = [m for m in messages if not m.provider_msg_id.startswith("GOOD-")]
    assert sorted(m.text for m in stored) == sorted(c.text for c in CASES if c.text is not None)
    assert by_id["SUR\ufffdID"].text == "oi, tudo bem?"
    assert by_id["T64"].sent_at is None  # an instant nobody can mean is unknown, not an error
    assert by_id["SURN"].payload["pushName"] == "Ma\ufffdria"
    for reason in {c.reason for c in CASES if c.reason}:
        refused = await api_metric(
            stack, "atende_webhook_refusals_total", tenant=TENANT, reason=reason
        )
        assert refused == sum(c.reason == reason for c in CASES), reason
    assert stack.api is not None
    assert not [e for e in stack.api.events("http.request") if e["status"] >= 500]


async def _post_meta(stack: Stack, payload: Any) -> httpx.Response:
    body, headers = signed(APP_SECRET, payload)
    return await stack.http.post(f"/hooks/meta/{TENANT}", content=body, headers=headers)


async def _meta_ready(stack: Stack) -> None:
    async def accepted() -> bool:  # the api follows tenant changes live
        payload = notification(PHONE_NUMBER_ID, text_message(CUSTOMER, "oi"))
        return (await _post_meta(stack, payload)).status_code == 200

    await eventually(accepted, within=10, what="the Cloud API webhook to be accepted")


async def test_a_cloud_api_batch_stores_its_good_messages_and_refuses_the_bad_ones(
    stack: Stack, graph: GraphStandIn
) -> None:
    await apply_meta_tenant(stack, graph)
    await _meta_ready(stack)
    change = text_message(CUSTOMER, "boa")
    long_id = {**change["messages"][0], "id": "wamid." + "A" * 300}
    long_phone = {**change["messages"][0], "id": "wamid.P40", "from": "9" * 40}
    good_one = {**change["messages"][0], "id": "wamid.GOOD"}
    change["messages"] = [long_id, good_one, long_phone]
    change["contacts"][0]["profile"]["name"] = "N" * 500  # longer than the column: cut
    response = await _post_meta(stack, notification(PHONE_NUMBER_ID, change))
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["refused"]) == (1, 2)
    assert "wamid.GOOD" in {m.provider_msg_id for m in await stack.rows(InboundMessage)}
    refused = await api_metric(
        stack, "atende_webhook_refusals_total", tenant=TENANT, reason="too_long"
    )
    assert refused == 2


MALFORMED: list[Any] = [
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
     "value": {"metadata": "x", "contacts": 5, "messages": 7, "statuses": "s"}}]}]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
     "value": {"messages": [{"type": "text", "text": "body", "from": "1", "id": "W1"}],
               "statuses": [{"id": "W", "status": "read", "errors": {"code": 1}}]}}]}]},
    {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
     "value": {"messages": [{"type": "interactive", "interactive": [], "from": "1", "id": "W2"},
                            {"type": "button", "button": "x", "from": "1", "id": "W3"},
                            {"type": ["image"], "from": "1", "id": "W4"}]}}]}]},
    {"object": "whatsapp_business_account", "entry": "not a list"},
]  # fmt: skip


async def test_a_malformed_cloud_api_body_from_the_tenant_is_never_a_500(
    stack: Stack, graph: GraphStandIn
) -> None:
    """The app secret is the tenant's: whatever it signs is answered 2xx or 4xx."""
    await apply_meta_tenant(stack, graph)
    await _meta_ready(stack)
    answers = [await _post_meta(stack, payload) for payload in MALFORMED]
    assert [a.status_code for a in answers] == [200, 200, 200, 422], [a.text for a in answers]
    assert json.loads(answers[1].text)["ignored"] == 0  # "text" not an object: an empty message


async def test_a_path_no_tenant_can_have_is_an_unknown_tenant(stack: Stack) -> None:
    """A NUL or a surrogate in the tenant's place never reaches Postgres (which would refuse the
    lookup): 404, not a spooled record that fails every replay, nor a 500."""
    body = json.dumps(good("path", 0)).encode()
    for slug in ("%00", "%ED%A0%80", "a" * 300, "Acme", "acme%00"):
        whaticket = await stack.http.post(f"/hooks/whaticket/{slug}/main/x", content=body)
        meta = await stack.http.post(f"/hooks/meta/{slug}", content=body)
        assert (whaticket.status_code, meta.status_code) == (404, 404), slug
    assert await stack.redis.exists(PENDING) == 0  # nothing spooled


async def _calm_answered_once(stack: Stack, calm_ids: list[str]) -> str | None:
    """None once every calm message is in an answered turn whose one reply went out once;
    else what is still missing."""
    async with stack.sessionmaker() as session:
        calm = select(Tenant.id).where(Tenant.slug == CALM).scalar_subquery()
        rows = (
            await session.execute(
                select(InboundMessage.provider_msg_id, Turn.id, Turn.status)
                .join(Turn, Turn.id == InboundMessage.turn_id, isouter=True)
                .where(InboundMessage.tenant_id == calm)
            )
        ).all()
        replies = (
            await session.execute(
                select(OutboundMessage.turn_id, func.count())
                .where(OutboundMessage.tenant_id == calm)
                .group_by(OutboundMessage.turn_id)
            )
        ).all()
    if sorted(r[0] for r in rows) != sorted(calm_ids):
        return f"{len(rows)} of {len(calm_ids)} calm messages stored"
    turns = {r[1] for r in rows}
    if any(r[2] != "answered" for r in rows):
        return f"{sum(r[2] != 'answered' for r in rows)} calm messages not answered yet"
    if {t for t, n in replies if n == 1} != turns or len(replies) != len(turns):
        return f"replies per turn: {replies}"
    numbers = {f"55119{k:04d}0000" for k in range(7)}  # the calm customers (webhook_rounds)
    sent = [s for s in stack.whaticket.sent() if s["number"] in numbers]
    return None if len(sent) == len(turns) else f"{len(sent)} sends for {len(turns)} turns"


async def test_fuzzing_one_tenant_leaves_the_other_stored_and_answered_once(
    stack: Stack, graph: GraphStandIn
) -> None:
    """The real api and worker: one tenant's webhooks fuzzed while the other posts at the same
    moment; no 5xx, and every message of the other is stored and answered exactly once."""
    await apply_meta_tenant(stack, graph)
    path = stack.tmp / "calm.yaml"
    path.write_text(tenant_yaml(stack.whaticket.url).replace(TENANT, CALM))
    code, _, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
    await _meta_ready(stack)
    calm_hook = stack.hook_path(tenant=CALM)
    targets = Targets(stack.hook_path(), f"/hooks/meta/{TENANT}", APP_SECRET, calm_hook)

    async def calm_ready() -> bool:
        return (await stack.http.post(calm_hook, content=b"{}")).status_code == 422

    await eventually(calm_ready, within=10, what="the calm tenant's webhook")
    rounds = Rounds(stack.api_url, targets)
    await asyncio.to_thread(rounds.fuzz)
    assert not rounds.problems, "\n".join(rounds.problems[:20])
    missing: str | None = "nothing checked yet"

    async def answered_once() -> bool:
        nonlocal missing
        missing = await _calm_answered_once(stack, rounds.calm_sent)
        return missing is None

    try:
        await eventually(answered_once, within=60, what="every calm message answered once")
    except AssertionError:
        raise AssertionError(missing) from None
    assert stack.api is not None
    assert not [e for e in stack.api.events("http.request") if e["status"] >= 500]
