"""The customer data page: a tenant's admins (and the platform's) find a customer, download
everything stored about them and erase it after typing the phone again; agents and viewers
are refused, another tenant's admin cannot reach the customer, and every step is audited."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select

from services.core.auth.roles import Role
from services.core.db import SessionMaker
from services.core.models import AuditEvent
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    baileys,
    hook_path,
    make_settings,
    running_app,
    shop_and_other_with_users,
)
from tests.core.privacy.dump import dump_postgres, everything

PASSWORD = "panel-contacts-password-0001"
PHONE = "5511944443333"
USERS = {
    "platform": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
    "shop_agent": ("agent@shop.test", Role.AGENT, TENANT),
    "shop_viewer": ("viewer@shop.test", Role.VIEWER, TENANT),
    "other_admin": ("admin@other.test", Role.TENANT_ADMIN, "other"),
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
        remote = f"{PHONE}@s.whatsapp.net"
        assert (await app.post(baileys("PNL-1", "DADOPESSOAL da loja", remote=remote))).is_success
        other = baileys("PNL-2", "DADODOOUTRO tenant", remote=remote)
        assert (await app.post(other, hook_path(tenant="other"))).is_success
        yield app


async def signed_in(api: RunningApp, who: str) -> dict[str, str]:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS[who][0], "password": PASSWORD}
    )
    return {"Cookie": f"atende_access={signed.cookies['atende_access']}"}


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def stored(clean_db: SessionMaker) -> str:
    return everything(await dump_postgres(clean_db), {})


async def test_agents_viewers_and_other_tenants_are_refused(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    for who in ("shop_agent", "shop_viewer"):
        cookies = await signed_in(api, who)
        page = await api.client.get("/panel/contacts", params={"phone": PHONE}, headers=cookies)
        assert page.status_code == 403
        assert "DADOPESSOAL" not in page.text
        download = await api.client.get(
            "/panel/contacts/export", params={"tenant": TENANT, "phone": PHONE}, headers=cookies
        )
        assert download.status_code == 403
        nav = (await api.client.get("/panel", headers=cookies)).text
        assert "/panel/contacts" not in nav
    cookies = await signed_in(api, "other_admin")
    stranger = await api.client.get(
        "/panel/contacts/export", params={"tenant": TENANT, "phone": PHONE}, headers=cookies
    )
    assert stranger.status_code == 404
    own = (await api.client.get("/panel/contacts", headers=cookies)).text
    forged = await api.client.post(
        "/panel/contacts/forget",
        data={"csrf_token": csrf_of(own), "tenant": TENANT, "phone": PHONE, "confirm": PHONE},
        headers=cookies,
    )
    assert forged.status_code == 404
    assert "DADOPESSOAL da loja" in await stored(clean_db)


async def test_a_tenant_admin_finds_downloads_and_erases_a_customer(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    cookies = await signed_in(api, "shop_admin")
    cookies_en = {**cookies, "Accept-Language": "en"}
    page = await api.client.get("/panel/contacts", params={"phone": PHONE}, headers=cookies)
    assert page.status_code == 200
    assert "Dados de clientes" in page.text  # pt-BR first
    assert 'data-count="messages">1<' in page.text
    english = await api.client.get("/panel/contacts", params={"phone": PHONE}, headers=cookies_en)
    assert "Customer data" in english.text

    download = await api.client.get(
        "/panel/contacts/export", params={"tenant": TENANT, "phone": PHONE}, headers=cookies
    )
    assert download.headers["content-disposition"].startswith("attachment;")
    document = json.loads(download.text)
    assert document["conversations"][0]["messages"][0]["text"] == "DADOPESSOAL da loja"
    assert "DADODOOUTRO" not in download.text

    form = {"csrf_token": csrf_of(page.text), "tenant": TENANT, "phone": PHONE}
    wrong = await api.client.post(
        "/panel/contacts/forget", data={**form, "confirm": "5511000000000"}, headers=cookies
    )
    assert wrong.status_code == 303
    assert "kind=error" in wrong.headers["location"]
    assert "DADOPESSOAL da loja" in await stored(clean_db)

    done = await api.client.post(
        "/panel/contacts/forget", data={**form, "confirm": f"+{PHONE}"}, headers=cookies
    )
    assert done.status_code == 303
    after = await api.client.get(done.headers["location"], headers=cookies)
    assert "registros deste cliente apagados" in after.text
    assert 'data-found="no"' in after.text
    left = await stored(clean_db)
    assert "DADOPESSOAL da loja" not in left
    assert "DADODOOUTRO tenant" in left
    async with clean_db() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
        actors = set(await session.scalars(select(AuditEvent.actor)))
    assert "contact.forgotten" in actions
    assert "contact.exported" in actions
    assert "admin@shop.test" in actors


async def bearer(api: RunningApp, who: str) -> dict[str, str]:
    response = await api.client.post(
        "/api/v1/auth/token", json={"email": USERS[who][0], "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_the_same_through_api_v1_for_admins_only(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    path, body = f"/api/v1/tenants/{TENANT}/contacts", {"phone": PHONE}
    for who, status in (("shop_viewer", 403), ("shop_agent", 403), ("other_admin", 404)):
        headers = await bearer(api, who)
        for action in ("export", "forget"):
            refused = await api.client.post(f"{path}/{action}", json=body, headers=headers)
            assert refused.status_code == status, (who, refused.text)
    assert "DADOPESSOAL da loja" in await stored(clean_db)

    headers = await bearer(api, "platform")
    exported = await api.client.post(f"{path}/export", json=body, headers=headers)
    assert exported.json()["conversations"][0]["messages"][0]["text"] == "DADOPESSOAL da loja"
    forgot = await api.client.post(f"{path}/forget", json=body, headers=headers)
    assert forgot.status_code == 200, forgot.text
    assert forgot.json()["erased"]["contacts"] == 1
    left = await stored(clean_db)
    assert "DADOPESSOAL da loja" not in left
    assert "DADODOOUTRO tenant" in left
