"""Accounts and sessions over HTTP, on real Postgres and Redis: the throttle holds under
parallel guesses without locking a known browser out, taking access away works on the very
next request, and a tenant admin manages only their own tenant's users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import func, select, update

from services.core.auth.roles import Role
from services.core.auth.throttle import PER_EMAIL
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, RefreshToken, User
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    make_settings,
    running_app,
    shop_and_other_with_users,
)

PASSWORD = "accounts-api-password-01"
USERS = {
    "root": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
    "shop_agent": ("agent@shop.test", Role.AGENT, TENANT),
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
    settings = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    await shop_and_other_with_users(settings, clean_db, USERS, PASSWORD)
    async with running_app(settings) as app:
        yield app


async def bearer(api: RunningApp, who: str, password: str = PASSWORD) -> dict[str, str]:
    response = await api.client.post(
        "/api/v1/auth/token", json={"email": USERS[who][0], "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def user_id(api: RunningApp, who: str) -> int:
    async with api.state.sessionmaker() as session:
        found = await session.scalar(select(User.id).where(User.email == USERS[who][0]))
    assert found is not None
    return int(found)


async def actions(api: RunningApp, action: str) -> list[AuditEvent]:
    async with api.state.sessionmaker() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_parallel_guesses_get_only_the_free_attempts(api: RunningApp) -> None:
    """The lockout checked before it counted: every parallel guess had its password checked."""
    guess = {"email": USERS["root"][0], "password": "not-the-password-000"}
    answers = await asyncio.gather(
        *(api.client.post("/api/v1/auth/token", json=guess) for _ in range(30))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [401] * PER_EMAIL.free + [429] * (30 - PER_EMAIL.free)
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers if a.status_code == 429)
    assert len(await actions(api, "auth.sign_in_failed")) == PER_EMAIL.free


async def test_a_browser_that_signed_in_before_is_not_locked_out(api: RunningApp) -> None:
    """Five wrong passwords locked anyone out, platform admins included, for 15 minutes."""
    email = USERS["root"][0]
    first = await api.client.post("/panel/login", data={"email": email, "password": PASSWORD})
    assert first.status_code == 303
    device = first.cookies["atende_device"]
    api.client.cookies.clear()  # the rest come from a stranger's browser, unless sent
    for _ in range(PER_EMAIL.free + 3):  # a stranger guessing
        await api.client.post("/api/v1/auth/token", json={"email": email, "password": "x" * 12})
    stranger = await api.client.post("/panel/login", data={"email": email, "password": PASSWORD})
    assert stranger.status_code == 429
    assert "Tentativas demais. Tente de novo em" in stranger.text  # pt-BR, the default
    wait = int(stranger.headers["retry-after"])
    assert 1 <= wait <= PER_EMAIL.cap_seconds  # a wait, never a 15-minute lock
    admin = await api.client.post(
        "/panel/login",
        data={"email": email, "password": PASSWORD},
        headers={"Cookie": f"atende_device={device}"},
    )
    assert admin.status_code == 303


async def test_a_user_deactivated_in_the_database_is_refused_at_once(api: RunningApp) -> None:
    """The access token stayed good for up to ten minutes after the user was switched off."""
    headers = await bearer(api, "shop_agent")
    assert (await api.client.get("/api/v1/tenants", headers=headers)).status_code == 200
    async with transaction(api.state.sessionmaker) as session:
        await session.execute(
            update(User).where(User.email == USERS["shop_agent"][0]).values(active=False)
        )
    assert (await api.client.get("/api/v1/tenants", headers=headers)).status_code == 401


async def test_a_tenant_admin_disables_their_agent_and_the_token_dies(api: RunningApp) -> None:
    admin, agent = await bearer(api, "shop_admin"), await bearer(api, "shop_agent")
    listed = (await api.client.get("/api/v1/users", headers=admin)).json()
    assert [u["email"] for u in listed] == ["admin@shop.test", "agent@shop.test"]
    target = await user_id(api, "shop_agent")
    done = await api.client.post(f"/api/v1/users/{target}/disable", headers=admin)
    assert done.json() == {"changed": True, "sessions_ended": None}
    assert (await api.client.get("/api/v1/tenants", headers=agent)).status_code == 401
    refused = await api.client.post(
        "/api/v1/auth/token", json={"email": USERS["shop_agent"][0], "password": PASSWORD}
    )
    assert refused.status_code == 401
    [event] = await actions(api, "user.disabled")
    assert (event.actor, event.details["email"]) == ("admin@shop.test", "agent@shop.test")
    assert event.details["sessions"] == 1
    enabled = await api.client.post(f"/api/v1/users/{target}/enable", headers=admin)
    assert enabled.json()["changed"] is True
    await bearer(api, "shop_agent")


async def test_a_tenant_admin_reaches_no_one_else(api: RunningApp) -> None:
    admin = await bearer(api, "shop_admin")
    for who in ("other_agent", "root"):
        target = await user_id(api, who)
        for path in ("disable", "revoke-sessions"):
            answer = await api.client.post(f"/api/v1/users/{target}/{path}", headers=admin)
            assert answer.status_code == 404, (who, path)
    agent_id = await user_id(api, "shop_agent")
    promote = await api.client.post(
        f"/api/v1/users/{agent_id}/role", json={"role": "platform_admin"}, headers=admin
    )
    assert promote.status_code == 400
    agent = await bearer(api, "shop_agent")
    assert (await api.client.get("/api/v1/users", headers=agent)).status_code == 403
    yourself = await api.client.post(
        f"/api/v1/users/{await user_id(api, 'shop_admin')}/disable", headers=admin
    )
    assert yourself.status_code == 400
    assert await actions(api, "user.disabled") == []


async def test_role_password_and_sessions_from_the_panel(api: RunningApp) -> None:
    agent = await bearer(api, "shop_agent")
    login = await api.client.post(
        "/panel/login", data={"email": USERS["shop_admin"][0], "password": PASSWORD}
    )
    cookies = {
        "Cookie": f"atende_access={login.cookies['atende_access']}",
        "Accept-Language": "en",  # the flash messages asserted below are the English ones
    }
    page = await api.client.get("/panel/users", headers=cookies)
    assert page.status_code == 200
    assert "agent@shop.test" in page.text
    assert "agent@other.test" not in page.text
    assert "platform_admin" not in page.text  # a role this admin may not give
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    target = await user_id(api, "shop_agent")

    changed = await api.client.post(
        f"/panel/users/{target}/role", data={"role": "viewer", "csrf_token": csrf}, headers=cookies
    )
    assert changed.status_code == 303
    assert "Role%20changed" in changed.headers["location"]
    assert (await api.client.get("/api/v1/tenants", headers=agent)).status_code == 401
    viewer = await bearer(api, "shop_agent")
    assert (await api.client.get("/api/v1/tenants", headers=viewer)).status_code == 200

    new_password = "a-brand-new-password-02"
    reset = await api.client.post(
        f"/panel/users/{target}/password",
        data={"password": new_password, "csrf_token": csrf},
        headers=cookies,
    )
    assert "Password%20reset" in reset.headers["location"]
    assert (await api.client.get("/api/v1/tenants", headers=viewer)).status_code == 401
    again = await bearer(api, "shop_agent", new_password)
    ended = await api.client.post(
        f"/panel/users/{target}/revoke-sessions", data={"csrf_token": csrf}, headers=cookies
    )
    assert ended.status_code == 303
    assert (await api.client.get("/api/v1/tenants", headers=again)).status_code == 401
    forged = await api.client.post(
        f"/panel/users/{target}/disable", data={"csrf_token": "x"}, headers=cookies
    )
    assert forged.status_code == 403
    names = [e.action for e in await actions(api, "user.role_changed")]
    names += [e.action for e in await actions(api, "user.password_reset")]
    names += [e.action for e in await actions(api, "user.sessions_revoked")]
    assert names == ["user.role_changed", "user.password_reset", "user.sessions_revoked"]
    async with api.state.sessionmaker() as session:
        live = await session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.user_id == target, RefreshToken.revoked_at.is_(None))
        )
    assert live == 0
