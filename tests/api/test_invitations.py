"""Invitations over HTTP, on real Postgres and Redis: a tenant admin invites from the Users page,
the invitee opens the one-time link in a browser with no session, chooses a password and is
signed in with the role; a used, expired, revoked or forged link gets a page saying so; the same
through ``/api/v1``, where a tenant admin reaches only their own tenant."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select, update

from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from services.core.logging import mask_hook_path
from services.core.models import AuditEvent, User, UserInvitation
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    make_settings,
    running_app,
    shop_and_other_with_users,
)

PASSWORD = "invitations-api-password-1"
NEW_PASSWORD = "a-senha-da-convidada-2026"
USERS = {
    "root": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
}
PT = {"Accept-Language": "pt-BR,pt;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.8"}
LINK = re.compile(r'class="invite-link" type="text" readonly value="([^"]+)"')


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
        yield app


async def cookie(api: RunningApp, who: str) -> dict[str, str]:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS[who][0], "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    api.client.cookies.clear()
    return {"Cookie": f"atende_access={signed.cookies['atende_access']}"}


async def bearer(api: RunningApp, who: str) -> dict[str, str]:
    answer = await api.client.post(
        "/api/v1/auth/token", json={"email": USERS[who][0], "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def stranger(api: RunningApp) -> httpx.AsyncClient:
    """A browser of its own: no cookie of anyone's."""
    return httpx.AsyncClient(transport=api.client._transport, base_url="http://atende.test")


async def actions(api: RunningApp) -> list[str]:
    async with api.state.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor != "test").order_by(AuditEvent.id)
        )  # not the fixture's users
        return [a for a in rows if a.startswith("user.") or a == "auth.sign_in"]


async def test_a_tenant_admin_invites_and_the_invitee_signs_in(api: RunningApp) -> None:
    admin = await cookie(api, "shop_admin")
    page = await api.client.get("/panel/users", headers=admin | PT)
    assert "Convidar alguém" in page.text
    assert 'value="platform_admin"' not in page.text  # a role this admin may not give
    invited = await api.client.post(
        "/panel/users/invite",
        data={"email": "Nova@Shop.Test", "role": "agent", "csrf_token": csrf_of(page.text)},
        headers=admin | PT,
    )
    assert invited.status_code == 200, invited.text
    assert "Envie este link" in invited.text
    [link] = LINK.findall(invited.text)
    link = html.unescape(link)
    assert link.startswith("http://atende.test/panel/invite/")
    token = link.rsplit("/", 1)[1]
    assert mask_hook_path(f"/panel/invite/{token}") == "/panel/invite/***"
    listed = await api.client.get("/panel/users", headers=admin | PT)
    assert "nova@shop.test" in listed.text
    assert token not in listed.text  # shown once, never again
    async with api.state.sessionmaker() as session:
        [row] = list(await session.scalars(select(UserInvitation)))
    assert token not in row.token_hash

    async with stranger(api) as browser:
        opened = await browser.get(f"/panel/invite/{token}", headers=PT)
        assert opened.status_code == 200
        assert "nova@shop.test" in opened.text
        assert 'data-role="agent"' in opened.text
        differ = await browser.post(
            f"/panel/invite/{token}",
            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"},
            headers=PT,
        )
        assert differ.status_code == 400
        assert "As duas senhas são diferentes." in differ.text
        short = await browser.post(
            f"/panel/invite/{token}", data={"password": "curta", "confirm": "curta"}, headers=EN
        )
        assert "A password needs at least 12 characters." in short.text
        done = await browser.post(
            f"/panel/invite/{token}",
            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            headers=PT,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/panel"
        home = await browser.get("/panel", headers=PT)
        assert home.status_code == 200
        assert "nova@shop.test" in home.text
        used = await browser.get(f"/panel/invite/{token}", headers=PT)
        assert used.status_code == 410
        assert "já foi usado" in used.text
        used_en = await browser.get(f"/panel/invite/{token}", headers=EN)
        assert "already used" in used_en.text
        forged = await browser.get(f"/panel/invite/{token[:-3]}abc", headers=EN)
        assert forged.status_code == 410
        assert "not an invitation link we issued" in forged.text
    async with api.state.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "nova@shop.test"))
    assert user is not None
    assert (user.role, user.active) == ("agent", True)
    assert await actions(api) == [
        "auth.sign_in", "user.invited", "user.created", "user.invitation_accepted",
        "auth.sign_in",
    ]  # fmt: skip


async def test_invitations_through_the_api_stay_in_the_admins_tenant(api: RunningApp) -> None:
    admin, root = await bearer(api, "shop_admin"), await bearer(api, "root")
    refused = await api.client.post(
        "/api/v1/users/invitations",
        json={"email": "boss@shop.test", "role": "platform_admin"},
        headers=admin,
    )
    assert refused.status_code == 400
    mine = await api.client.post(
        "/api/v1/users/invitations",
        json={"email": "ze@shop.test", "role": "viewer", "tenant": "other"},
        headers=admin,
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["tenant"] == TENANT  # another tenant's name is not even looked up
    assert mine.json()["link"].startswith("http://atende.test/panel/invite/")
    theirs = await api.client.post(
        "/api/v1/users/invitations",
        json={"email": "x@other.test", "role": "agent", "tenant": "other"},
        headers=root,
    )
    assert theirs.json()["tenant"] == "other"
    seen = (await api.client.get("/api/v1/users/invitations", headers=admin)).json()
    assert [(i["email"], i["invited_by"], i["link"]) for i in seen] == [
        ("ze@shop.test", "admin@shop.test", None)
    ]
    everyone = (await api.client.get("/api/v1/users/invitations", headers=root)).json()
    assert [i["email"] for i in everyone] == ["x@other.test", "ze@shop.test"]
    other_id = theirs.json()["id"]
    nope = await api.client.post(f"/api/v1/users/invitations/{other_id}/revoke", headers=admin)
    assert nope.status_code == 404
    revoked = await api.client.post(
        f"/api/v1/users/invitations/{mine.json()['id']}/revoke", headers=admin
    )
    assert revoked.json() == {"changed": True}
    token = mine.json()["link"].rsplit("/", 1)[1]
    async with stranger(api) as browser:
        gone = await browser.get(f"/panel/invite/{token}", headers=PT)
        assert gone.status_code == 410
        assert "foi revogado" in gone.text
        async with transaction(api.state.sessionmaker) as session:
            await session.execute(
                update(UserInvitation)
                .where(UserInvitation.id == other_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        late_token = theirs.json()["link"].rsplit("/", 1)[1]
        late = await browser.post(
            f"/panel/invite/{late_token}",
            data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
            headers=EN,
        )
        assert late.status_code == 410
        assert "This invitation has expired." in late.text
    agent_answer = await api.client.get("/api/v1/users/invitations")
    assert agent_answer.status_code == 401
    assert [a for a in await actions(api) if a != "auth.sign_in"] == [
        "user.invited", "user.invited", "user.invitation_revoked",
    ]  # fmt: skip
