"""``/api/v1`` and the panel over HTTP: roles and tenant isolation on every route, bad tokens,
CSRF, injection attempts shown as text, oversized forms — each refused and audited."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import select, update

from services.core import events
from services.core.auth.roles import Principal, Role
from services.core.auth.tokens import TokenKeys, issue_access_token, read_access_token
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, EventDelivery, Tenant
from services.core.tenants.spec import EventType
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    baileys,
    make_settings,
    running_app,
    shop_and_other_with_users,
)

PASSWORD = "panel-api-password-0001"
USERS = {
    "platform": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
    "shop_viewer": ("viewer@shop.test", Role.VIEWER, TENANT),
    "other_agent": ("agent@other.test", Role.AGENT, "other"),
}


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    await redis_client.flushall()
    settings = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    await shop_and_other_with_users(settings, clean_db, USERS, PASSWORD)
    async with running_app(settings) as app:
        app.client.headers["Accept-Language"] = "en"  # these tests read the English pages
        yield app


async def token(api: RunningApp, who: str) -> dict[str, str]:
    response = await api.client.post(
        "/api/v1/auth/token", json={"email": USERS[who][0], "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def conversation_id(api: RunningApp) -> int:
    """A conversation of the shop tenant, with a customer trying HTML and SQL on us."""
    await api.post(baileys("XSS-1", "<script>alert('x')</script> ' OR 1=1 --"))
    headers = await token(api, "platform")
    rows = (await api.client.get("/api/v1/conversations", headers=headers)).json()
    return int(rows[0]["id"])


async def audited(api: RunningApp, action: str) -> list[dict[str, Any]]:
    async with api.state.sessionmaker() as session:
        events = await session.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [event.details for event in events]


async def test_another_tenants_user_sees_nothing_of_it_on_any_route(api: RunningApp) -> None:
    conversation = await conversation_id(api)
    other = await token(api, "other_agent")
    reads: dict[str, Any] = {
        "/api/v1/tenants": ["other"],
        "/api/v1/conversations": [],
        "/api/v1/conversations?q=script": [],
        "/api/v1/dead-letters?status=all": [],
    }
    for path, expected in reads.items():
        response = await api.client.get(path, headers=other)
        assert response.status_code == 200, path
        body = response.json()
        seen = [t["slug"] for t in body] if path == "/api/v1/tenants" else body
        assert seen == expected, (path, body)
    refused = [
        ("GET", f"/api/v1/conversations/{conversation}", None, 404),
        ("POST", f"/api/v1/tenants/{TENANT}/pause", {"reason": "x"}, 404),
        ("POST", f"/api/v1/tenants/{TENANT}/resume", None, 404),
        ("POST", f"/api/v1/simulator/{TENANT}/messages", {"text": "oi"}, 404),
        ("GET", f"/api/v1/simulator/{TENANT}/messages", None, 404),
        ("GET", "/api/v1/audit", None, 403),  # an agent does not read the audit log
    ]
    for method, path, body, status in refused:
        response = await api.client.request(method, path, json=body, headers=other)
        assert response.status_code == status, (method, path, response.text)
        assert "shop" not in response.text.lower().replace(f"'{TENANT}'", "")
    replay = await api.client.post("/api/v1/dead-letters/replay", json={"ids": [1]}, headers=other)
    assert replay.json() == {"outcomes": ["#1: dead letter 1 not found"]}


async def test_the_pages_hide_another_tenant_too(api: RunningApp) -> None:
    conversation = await conversation_id(api)
    signed = await api.client.post(
        "/panel/login", data={"email": USERS["other_agent"][0], "password": PASSWORD}
    )
    cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
    page = await api.client.get("/panel", headers=cookies)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    for path in (
        f"/panel/conversations/{conversation}",
        f"/panel/simulator/{TENANT}/transcript",
    ):
        assert (await api.client.get(path, headers=cookies)).status_code == 404, path
    for path, form in (
        (f"/panel/tenants/{TENANT}/pause", {"reason": "x"}),
        (f"/panel/tenants/{TENANT}/resume", {}),
        (f"/panel/simulator/{TENANT}/messages", {"text": "oi"}),
    ):
        response = await api.client.post(path, data=form | {"csrf_token": csrf}, headers=cookies)
        assert response.status_code == 404, path
    listing = await api.client.get("/panel/conversations", headers=cookies)
    assert "script" not in listing.text
    assert 'data-tenant="other"' in page.text
    assert f'data-tenant="{TENANT}"' not in page.text
    schema = (await api.client.get("/openapi.json")).json()
    assert "HTTPBearer" in schema["components"]["securitySchemes"]
    assert "/api/v1/dead-letters/replay" in schema["paths"]


async def test_roles_decide_what_a_user_of_the_tenant_may_do(api: RunningApp) -> None:
    viewer = await token(api, "shop_viewer")
    admin = await token(api, "shop_admin")
    pause = {"reason": "maintenance window"}
    response = await api.client.post(f"/api/v1/tenants/{TENANT}/pause", json=pause, headers=viewer)
    assert response.status_code == 403
    said = await api.client.post(
        f"/api/v1/simulator/{TENANT}/messages", json={"text": "oi"}, headers=viewer
    )
    assert said.status_code == 403
    assert (await api.client.get("/api/v1/audit", headers=viewer)).status_code == 403
    response = await api.client.post(f"/api/v1/tenants/{TENANT}/pause", json=pause, headers=admin)
    assert response.json() == {"tenant": TENANT, "outcome": "updated"}
    events = (await api.client.get("/api/v1/audit", headers=admin)).json()
    assert "tenant.pause" in [e["action"] for e in events]
    resumed = await api.client.post(f"/api/v1/tenants/{TENANT}/resume", headers=admin)
    assert resumed.status_code == 200


def _forge(claims: dict[str, Any], header: dict[str, Any]) -> str:
    def b64(part: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()

    return f"{b64(header)}.{b64(claims)}."


@pytest.mark.parametrize("kind", ["expired", "tampered", "alg_none", "rotated_out", "garbage"])
async def test_bad_tokens_are_refused_and_audited(api: RunningApp, kind: str) -> None:
    settings = api.settings
    root = Principal(1, USERS["platform"][0], Role.PLATFORM_ADMIN, None, "none")
    keys = TokenKeys.from_settings(settings)
    now = datetime.now(UTC)
    good = issue_access_token(keys, root, now, 10)
    header, claims, signature = good.split(".")
    tokens = {
        "expired": issue_access_token(keys, root, now - timedelta(hours=1), 10),
        "tampered": f"{header}.{claims[:-2]}AA.{signature}",
        "alg_none": _forge(
            json.loads(base64.urlsafe_b64decode(claims + "==")), {"alg": "none", "typ": "JWT"}
        ),
        "rotated_out": issue_access_token(
            TokenKeys("a-key-nobody-has-anymore-0123456789abc"), root, now, 10
        ),
        "garbage": "not-a-token",
    }
    response = await api.client.get(
        "/api/v1/tenants", headers={"Authorization": f"Bearer {tokens[kind]}"}
    )
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}  # never says why
    reasons = [d["reason"] for d in await audited(api, "auth.token_rejected")]
    if kind == "expired":
        assert reasons == []  # expiring is normal life, not an attack
    else:
        assert len(reasons) == 1
    assert settings.secret_key.get_secret_value() not in response.text


async def test_cookie_writes_need_the_csrf_token(api: RunningApp) -> None:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS["shop_admin"][0], "password": PASSWORD}
    )
    assert signed.status_code == 303
    cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
    pause = {"reason": "x"}
    forged = await api.client.post(f"/api/v1/tenants/{TENANT}/pause", json=pause, headers=cookies)
    assert forged.status_code == 403
    assert await audited(api, "auth.csrf_rejected")
    form = await api.client.post(
        f"/panel/tenants/{TENANT}/pause",
        data={"reason": "x", "csrf_token": "forged"},
        headers=cookies,
    )
    assert form.status_code == 403
    assert "did not come from this panel" in form.text


async def test_customer_html_is_shown_as_text_and_search_is_not_sql(api: RunningApp) -> None:
    conversation = await conversation_id(api)
    signed = await api.client.post(
        "/panel/login", data={"email": USERS["platform"][0], "password": PASSWORD}
    )
    cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
    page = await api.client.get(f"/panel/conversations/{conversation}", headers=cookies)
    assert page.status_code == 200
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    found = await api.client.get(
        "/panel/conversations", params={"q": "' OR 1=1 --"}, headers=cookies
    )
    assert found.status_code == 200
    assert f"/panel/conversations/{conversation}" in found.text  # found as text, literally
    nothing = await api.client.get(
        "/panel/conversations", params={"q": "'; DROP TABLE users; --"}, headers=cookies
    )
    assert "No conversations match." in nothing.text
    assert await audited(api, "conversation.viewed") == [{"conversation_id": conversation}]


async def test_oversized_forms_and_unknown_sessions(api: RunningApp) -> None:
    huge = {"email": "x@y.z", "password": "p" * (api.settings.max_body_bytes + 1)}
    assert (await api.client.post("/panel/login", data=huge)).status_code == 413
    anonymous = await api.client.get("/panel/conversations")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/panel/login?next=/panel/conversations"
    assert (await api.client.get("/api/v1/tenants")).json() == {"error": "unauthorized"}
    evil = await api.client.get("/panel/login", params={"next": "https://evil.example/"})
    assert 'value="/panel"' in evil.text  # no open redirect after sign-in
    for _ in range(5):
        await api.client.post(
            "/panel/login", data={"email": USERS["platform"][0], "password": "wrong-password"}
        )
    throttled = await api.client.post(
        "/panel/login", data={"email": USERS["platform"][0], "password": PASSWORD}
    )
    assert throttled.status_code == 429
    assert "Too many attempts" in throttled.text
    assert len(await audited(api, "auth.sign_in_failed")) == 5
    secret = SecretStr(PASSWORD)
    assert secret.get_secret_value() not in throttled.text


async def test_an_expired_access_token_is_renewed_with_the_refresh_cookie(
    api: RunningApp,
) -> None:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS["shop_admin"][0], "password": PASSWORD}
    )
    refresh_cookie = signed.cookies["atende_refresh"]
    keys = TokenKeys.from_settings(api.settings)
    principal = read_access_token(keys, signed.cookies["atende_access"])
    stale = issue_access_token(keys, principal, datetime.now(UTC) - timedelta(hours=1), 10)

    page = await api.client.get(
        "/panel/conversations", headers={"Cookie": f"atende_access={stale}"}
    )
    assert page.status_code == 303
    assert page.headers["location"] == "/panel/refresh?next=/panel/conversations"
    renewed = await api.client.get(
        "/panel/refresh?next=/panel/conversations",
        headers={"Cookie": f"atende_refresh={refresh_cookie}"},
    )
    assert renewed.status_code == 303
    assert renewed.headers["location"] == "/panel/conversations"
    fresh = renewed.cookies["atende_access"]
    again = await api.client.get(
        "/panel/conversations", headers={"Cookie": f"atende_access={fresh}"}
    )
    assert again.status_code == 200
    # The used refresh token is spent: presenting it again ends the whole session.
    reused = await api.client.get(
        "/panel/refresh", headers={"Cookie": f"atende_refresh={refresh_cookie}"}
    )
    assert reused.headers["location"].startswith("/panel/login")
    gone = await api.client.get(
        "/panel/conversations", headers={"Cookie": f"atende_access={fresh}"}
    )
    assert gone.status_code == 303


async def test_the_events_page_shows_a_tenant_only_its_own_deliveries(api: RunningApp) -> None:
    async with transaction(api.state.sessionmaker) as session:
        slugs = {t.slug: t.id for t in await session.scalars(select(Tenant))}
        for slug, status, code in ((TENANT, "delivered", 200), ("other", "failed", 500)):
            await events.record(
                session,
                [events.delivery(slugs[slug], slug, f"{slug}-crm", EventType.TURN_ANSWERED, {})],
            )
            await session.execute(
                update(EventDelivery)
                .where(EventDelivery.tenant_id == slugs[slug])
                .values(status=status, attempts=2, last_status=code)
            )

    async def page_for(user: str) -> str:
        signed = await api.client.post(
            "/panel/login", data={"email": USERS[user][0], "password": PASSWORD}
        )
        cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
        page = await api.client.get("/panel/events", headers=cookies)
        assert page.status_code == 200
        return page.text

    other = await page_for("other_agent")
    assert "other-crm" in other
    assert "HTTP 500" in other
    assert f"{TENANT}-crm" not in other
    everyone = await page_for("platform")
    assert "other-crm" in everyone
    assert f"{TENANT}-crm" in everyone
    assert "turn.answered" in everyone
