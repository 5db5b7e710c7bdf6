"""What every request gets whoever asks: security headers on every answer, refused tokens
audited in small rows at a bounded rate, and a source IP that a short X-Forwarded-For chain
cannot forge."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select
from starlette.requests import Request

from services.api.client_ip import client_ip
from services.api.security import AUDITED_REJECTIONS_PER_IP
from services.cli.admin import apply_file
from services.core.auth.throttle import PER_IP
from services.core.db import SessionMaker
from services.core.models import AuditEvent
from tests.api.webhook_app import TENANT_YAML, RunningApp, baileys, make_settings, running_app


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, redis_url, tmp_path, trusted_proxy_hops=2)
    await apply_file(settings, TENANT_YAML)
    async with running_app(settings) as app:
        yield app


async def test_every_answer_carries_the_security_headers(api: RunningApp) -> None:
    answers = {
        "login page": await api.client.get("/panel/login"),
        "page without session": await api.client.get("/panel/conversations"),
        "api refusal": await api.client.get("/api/v1/tenants"),
        "unknown path": await api.client.get("/nowhere"),
        "webhook": await api.post(baileys("HDR-1")),
        "too large": await api.client.post("/panel/login", content=b"x" * 5000),
    }
    for name, answer in answers.items():
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["x-frame-options"] == "DENY", name
        assert headers["referrer-policy"] == "same-origin", name
        assert "frame-ancestors 'none'" in headers["content-security-policy"], name
        assert "'unsafe-inline'" not in headers["content-security-policy"], name
        assert headers["cache-control"] == "no-store", name
        assert "strict-transport-security" not in headers, name  # plain http
    static = await api.client.get("/panel/static/panel.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


async def test_hsts_when_our_proxy_says_https(api: RunningApp) -> None:
    https = await api.client.get("/panel/login", headers={"X-Forwarded-Proto": "https"})
    assert https.headers["strict-transport-security"].startswith("max-age=")


async def test_forged_tokens_write_few_small_audit_rows(api: RunningApp) -> None:
    """Each refused token wrote a row of up to 12 KB, as many as anyone sent."""
    long_path = "/api/v1/tenants?" + "q" * 3000
    for i in range(40):
        answer = await api.client.get(
            long_path if i % 2 else "/api/v1/" + "p" * 1500,
            headers={
                "Authorization": "Bearer " + "x" * 4000,
                "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
            },
        )
        assert answer.status_code in (401, 404)
    async with api.state.sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "auth.token_rejected")
            )
        )
    assert 1 <= len(rows) <= AUDITED_REJECTIONS_PER_IP
    assert {row.actor for row in rows} == {"ip:203.0.113.9"}
    assert max(len(json.dumps(row.details)) + len(row.actor) for row in rows) < 400


async def test_a_short_forwarded_chain_cannot_pick_the_throttled_ip(api: RunningApp) -> None:
    """Two trusted hops and a one-entry chain: the entry was the client's own invention."""
    for i in range(PER_IP.free):
        answer = await api.client.post(
            "/api/v1/auth/token",
            json={"email": f"guess{i}@x.test", "password": "guess-guess-guess"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert answer.status_code == 401
    throttled = await api.client.post(
        "/api/v1/auth/token",
        json={"email": "fresh@x.test", "password": "guess-guess-guess"},
        headers={"X-Forwarded-For": "192.0.2.77"},
    )
    assert throttled.status_code == 429


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "headers": headers, "client": (peer, 1234)})


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, ["1.2.3.4"], "10.0.0.9"),  # no proxy of ours: the header is anyone's
        (1, ["1.2.3.4"], "1.2.3.4"),
        (1, ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # the left entry is the client's claim
        (2, ["6.6.6.6, 1.2.3.4, 10.0.0.1"], "1.2.3.4"),
        (2, ["6.6.6.6"], "10.0.0.9"),  # shorter than the hops: the peer, not the claim
        (1, ["not-an-ip"], "10.0.0.9"),
        (1, ["1.2.3.4" + " " * 100 + "x" * 9000], "10.0.0.9"),
    ],
)
def test_the_client_ip(hops: int, forwarded: list[str], expected: str) -> None:
    assert client_ip(_request("10.0.0.9", *forwarded), hops) == expected
