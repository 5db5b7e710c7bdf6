"""Two tenants on one real api (uvicorn on loopback, real Postgres and Redis): whatever the
fuzzed tenant posts to its Whaticket and Cloud API webhooks — broken JSON, NaN, lone
surrogates, deep nesting, ids and numbers no column holds — nothing is answered 5xx, and every
message the other tenant posts at the same moment is stored and queued exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from services.api.main import create_app
from services.cli.admin import apply_file
from services.core import jobs
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.models import InboundMessage, Tenant
from tests.fixtures.live_api import serving

FUZZED, CALM = "loud", "calm"
APP_SECRET = "fuzz-meta-app-secret-0123456789"
PHONE_NUMBER_ID = "106540352242922"


def tenant_yaml(name: str, *, meta: bool) -> str:
    meta_keys = f"  meta-app-secret: {APP_SECRET}\n  meta-verify: v\n  meta-token: t\n"
    meta_spec = f"""\
  meta:
    phoneNumberId: "{PHONE_NUMBER_ID}"
    verifyTokenSecretRef: {{name: {name}, key: meta-verify}}
    appSecretSecretRef: {{name: {name}, key: meta-app-secret}}
    accessTokenSecretRef: {{name: {name}, key: meta-token}}
"""
    return f"""\
apiVersion: v1
kind: Secret
metadata: {{name: {name}, labels: {{atende.dev/tenant: {name}}}}}
stringData:
  webhook-secret: {name}-webhook-secret-0123456789
{meta_keys if meta else ""}---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {name}}}
spec:
  displayName: Loja {name}
  whaticket:
    variant: saas
    connections: [{{name: main}}]
  webhook:
    secretRefs: [{{name: {name}, key: webhook-secret}}]
  persona:
    systemPrompt: Você é a assistente da loja {name}.
  conversation: {{debounceSeconds: 60}}
{meta_spec if meta else ""}"""


def hook(name: str) -> str:
    return f"/hooks/whaticket/{name}/main/{name}-webhook-secret-0123456789"


@pytest_asyncio.fixture(loop_scope="session")
async def api_url(
    clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[str]:
    settings_ = Settings(  # the default body cap: deep nesting must reach the parser
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        secret_key=SecretStr("fuzz-platform-secret-key"),
    )
    both = tenant_yaml(FUZZED, meta=True) + "---\n" + tenant_yaml(CALM, meta=False)
    await apply_file(settings_, both)
    async with serving(create_app(settings_)) as url:
        yield url


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


def _signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


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

    def __init__(self, api_url: str) -> None:
        self.client = httpx.Client(base_url=api_url, timeout=30)
        self.pool = ThreadPoolExecutor(3)
        self.calm_sent: list[str] = []
        self.problems: list[str] = []
        self._numbers = itertools.count()

    def run(self, channel: str, body: bytes) -> None:
        if channel == "meta":
            headers = {"X-Hub-Signature-256": _signature(body)}
            fuzzed = self.pool.submit(
                self.client.post, f"/hooks/meta/{FUZZED}", content=body, headers=headers
            )
        else:
            fuzzed = self.pool.submit(self.client.post, hook(FUZZED), content=body)
        calm = [calm_message(next(self._numbers)) for _ in range(2)]
        posts = [self.pool.submit(self.client.post, hook(CALM), json=m) for m in calm]
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


async def test_no_fuzzed_body_fails_the_api_or_the_other_tenant(
    api_url: str, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    rounds = Rounds(api_url)
    await asyncio.to_thread(rounds.fuzz)
    assert not rounds.problems, "\n".join(rounds.problems[:20])

    async with clean_db() as session:
        calm = select(Tenant.id).where(Tenant.slug == CALM).scalar_subquery()
        rows = (
            await session.execute(
                select(InboundMessage.id, InboundMessage.provider_msg_id).where(
                    InboundMessage.tenant_id == calm
                )
            )
        ).all()
    assert sorted(m for _, m in rows) == sorted(rounds.calm_sent), "a calm message was lost"
    queued = {j.decode() for j in await redis_client.zrange(jobs.QUEUE, 0, -1)}
    assert all(jobs.inbound_job_id(i) in queued for i, _ in rows)  # each queued, once by its id
