"""One tenant's webhooks fuzzed while another tenant posts at the same moment: the bodies
(broken JSON, NaN, lone surrogates, deep nesting, ids and numbers no column holds, spliced into
Baileys and Cloud API shapes) and the rounds that send them, for a live api in a thread
(``test_webhook_isolation.py``) or the real process (``tests/e2e/test_bad_messages.py``)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

PHONE_NUMBER_ID = "106540352242922"  # the fuzzed tenant's spec.meta.phoneNumberId

# -- what the fuzzed tenant sends ----------------------------------------------------------------

# JSON text json.dumps never writes, spliced in where a value goes.
NASTY = st.sampled_from(
    [
        "NaN", "Infinity", "-Infinity", "1e400", "-1e999", "9" * 70, str(2**63), str(2**64),
        '"\\ud800"', '"a\\udc00b"', '"\\u0000"', '"\\u00b2\\u00b3"', '"' + "I" * 300 + '"',
        '"' + "9" * 40 + '@s.whatsapp.net"', '"' + "7" * 100 + '@lid"', "[" * 80 + "]" * 80,
        "[" * 3000 + "]" * 3000, '{"low": 1, "high": 9223372036854775807}', '"9' + "9" * 5000 + '"',
        "true", "null", "{}", "[]", '"x"', "-1", "0.5",
    ]
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
BAILEYS = (
    '{"key": {"remoteJid": <JID>, "fromMe": false, "id": <ID>}, "message": {"conversation": <TEXT>,'
    ' "extendedTextMessage": <EXTRA>}, "messageTimestamp": <TS>, "pushName": <NAME>}'
)
META = (
    '{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",'
    ' "value": {"metadata": {"phone_number_id": "' + PHONE_NUMBER_ID + '"}, "contacts":'
    ' [{"wa_id": <JID>, "profile": {"name": <NAME>}}], "messages": [{"from": <JID>, "id": <ID>,'
    ' "timestamp": <TS>, "type": "text", "text": {"body": <TEXT>}}, <EXTRA>], "statuses":'
    ' [{"id": <ID>, "status": "read", "errors": <EXTRA>}]}}]}]}'
)
IDS = st.from_regex(r"FZ-[A-Z0-9]{8}", fullmatch=True).map(json.dumps)
BAILEYS_SANE = {"JID": '"5511977770000@s.whatsapp.net"', "TEXT": '"oi"', "TS": "1760000000",
                "NAME": '"Ana"', "EXTRA": "{}"}  # fmt: skip
META_SANE = {**BAILEYS_SANE, "JID": '"5511977770000"', "TS": '"1760000000"'}


@st.composite
def spliced(draw: st.DrawFn, template: str, sane: dict[str, str]) -> bytes:
    """The template with a few slots holding nasty JSON text, most sane, some random JSON."""
    body = template.replace("<ID>", draw(st.one_of(IDS, IDS, IDS, NASTY)))
    for slot, usual in sane.items():
        pick = draw(st.integers(0, 9))
        if pick < 6:
            value = usual
        elif pick < 9:
            value = draw(NASTY)
        else:
            value = json.dumps(draw(json_values), allow_nan=True)
        body = body.replace(f"<{slot}>", value)
    return body.encode()


bodies = st.one_of(
    spliced(BAILEYS, BAILEYS_SANE).map(lambda b: ("whaticket", b)),
    spliced(META, META_SANE).map(lambda b: ("meta", b)),
    json_values.map(lambda v: ("whaticket", json.dumps(v, allow_nan=True).encode())),
    st.binary(max_size=200).map(lambda b: ("meta", b)),
)


def calm_message(n: int) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"55119{n % 7:04d}0000@s.whatsapp.net", "fromMe": False,
                "id": f"CALM-{n}"},
        "message": {"conversation": f"mensagem {n} da loja tranquila"},
        "messageTimestamp": 1_760_000_000 + n,
        "pushName": "Cliente",
    }  # fmt: skip


@dataclass(frozen=True)
class Targets:
    """Where the fuzzed tenant's Whaticket and Cloud API webhooks are, its app secret, and the
    calm tenant's Whaticket webhook."""

    fuzzed_hook: str
    fuzzed_meta: str
    app_secret: str
    calm_hook: str

    def signature(self, body: bytes) -> str:
        digest = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"


def _answer(post: Future[httpx.Response]) -> httpx.Response | httpx.HTTPError:
    try:
        return post.result()
    except httpx.HTTPError as exc:  # the connection dropped: as lost as a 500
        return exc


def _said(answer: httpx.Response | httpx.HTTPError) -> str:
    if isinstance(answer, httpx.Response):
        return f"{answer.status_code} {answer.text[:120]}"
    return f"no answer ({type(answer).__name__})"


class Rounds:
    """Each round: the fuzzed body and two of the calm tenant's messages at once (so they
    share a batch), from threads; what went wrong is kept."""

    def __init__(self, api_url: str, targets: Targets) -> None:
        self.targets = targets
        self.client = httpx.Client(base_url=api_url, timeout=30)
        self.pool = ThreadPoolExecutor(3)
        self.calm_sent: list[str] = []
        self.problems: list[str] = []
        self._numbers = itertools.count()

    def run(self, channel: str, body: bytes) -> None:
        if channel == "meta":
            headers = {"X-Hub-Signature-256": self.targets.signature(body)}
            fuzzed = self.pool.submit(
                self.client.post, self.targets.fuzzed_meta, content=body, headers=headers
            )
        else:
            fuzzed = self.pool.submit(self.client.post, self.targets.fuzzed_hook, content=body)
        calm = [calm_message(next(self._numbers)) for _ in range(2)]
        posts = [self.pool.submit(self.client.post, self.targets.calm_hook, json=m) for m in calm]
        answer = _answer(fuzzed)
        if not isinstance(answer, httpx.Response) or answer.status_code >= 500:
            self.problems.append(f"{_said(answer)} for {channel} {body[:300]!r}")
        for message, post in zip(calm, posts, strict=True):
            self.calm_sent.append(message["key"]["id"])
            calm_answer = _answer(post)
            if not isinstance(calm_answer, httpx.Response) or calm_answer.json() != {
                "status": "accepted"
            }:
                self.problems.append(f"calm {message['key']['id']}: {_said(calm_answer)}")

    def fuzz(self) -> None:
        @settings(deadline=None)  # the profile bounds it: 150 derandomized examples in CI
        @given(bodies)
        def one(sent: tuple[str, bytes]) -> None:
            self.run(*sent)

        try:
            one()
        finally:
            self.client.close()
            self.pool.shutdown()
