"""The api with the shop tenant (an action key, two campaigns) and a stranger, their panel users,
and a signed-in reader of the panel for the conversation pages' tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select, update

from services.cli.admin import apply_file
from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from services.core.models import Contact, Conversation, Tenant
from tests.api.webhook_app import (
    TENANT,
    TENANT_YAML,
    RunningApp,
    baileys,
    hook_path,
    make_settings,
    running_app,
    shop_and_other_with_users,
)
from tests.fixtures.tenant_files import extended

PASSWORD = "panel-conversations-password-01"
ACTION_KEY = "n8n-action-key-conversations-0123456"
USERS = {
    "platform": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
    "shop_agent": ("agent@shop.test", Role.AGENT, TENANT),
    "shop_viewer": ("viewer@shop.test", Role.VIEWER, TENANT),
    "other_agent": ("agent@other.test", Role.AGENT, "other"),
}
CAMPAIGNS = "  campaigns:\n    - {name: blackfriday, keywords: [black friday]}\n"


def shop_yaml() -> str:
    actions = "  actions: {apiKeySecretRefs: [{name: shop, key: action-key}]}\n"
    return extended(TENANT_YAML, {"action-key": ACTION_KEY}, actions + CAMPAIGNS)


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
    await apply_file(settings, shop_yaml())  # the shop again, with its action key and campaigns
    async with running_app(settings) as app:
        yield app


@dataclass
class Reader:
    """A signed-in panel user, reading in one language."""

    api: RunningApp
    headers: dict[str, str]
    csrf: str

    async def get(self, path: str) -> httpx.Response:
        return await self.api.client.get(path, headers=self.headers)

    async def post(self, path: str, form: dict[str, str] | None = None) -> httpx.Response:
        data = {"csrf_token": self.csrf} | (form or {})
        return await self.api.client.post(path, data=data, headers=self.headers)


async def sign_in(api: RunningApp, who: str, language: str = "en") -> Reader:
    signed = await api.client.post(
        "/panel/login",
        data={"email": USERS[who][0], "password": PASSWORD},
        headers={"Accept-Language": language},
    )
    assert signed.status_code == 303, signed.text
    headers = {
        "Cookie": f"atende_access={signed.cookies['atende_access']}",
        "Accept-Language": language,
    }
    page = await api.client.get("/panel/conversations", headers=headers)
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return Reader(api, headers, csrf)


async def customer_writes(
    api: RunningApp, phone: str, text: str, *, msg_id: str, tenant: str = TENANT
) -> int:
    """A customer's WhatsApp message through the webhook; the id of their conversation."""
    path = None if tenant == TENANT else hook_path(tenant)
    response = await api.post(baileys(msg_id, text, remote=f"{phone}@s.whatsapp.net"), path)
    assert response.status_code == 200, response.text
    async with api.state.sessionmaker() as session:
        found = await session.scalar(
            select(Conversation.id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .join(Tenant, Tenant.id == Conversation.tenant_id)
            .where(Contact.phone == phone, Tenant.slug == tenant)
        )
    assert found is not None
    return int(found)


async def set_activity(api: RunningApp, conversation_id: int, at: datetime) -> None:
    async with transaction(api.state.sessionmaker) as session:
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(last_inbound_at=at)
        )


def listed(html: str) -> list[int]:
    """The conversation ids of a list page (or the queue's rows), in their order."""
    return [int(found) for found in re.findall(r'<tr data-conversation="(\d+)"', html)]


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return found.group(1).replace("&amp;", "&") if found else None
