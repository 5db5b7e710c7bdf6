"""A panel user in the middle of a key rotation: signed in and handed a form by a pod on the old
key, the next request lands on a pod already on the new one (the old key in
ATENDE_PREVIOUS_SECRET_KEYS). The session and the form keep working; once the old key is dropped
its tokens are refused."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import select

from services.cli.admin import apply_file
from services.core.auth.roles import Role
from services.core.auth.sessions import create_user
from services.core.db import SessionMaker, transaction
from services.core.models import Tenant
from tests.api.webhook_app import TENANT, TENANT_YAML, make_settings, running_app

OLD = "panel-rotation-old-key-0123456789abcdef"
NEW = "panel-rotation-new-key-fedcba9876543210"
EMAIL, PASSWORD = "admin@shop.test", "panel-rotation-password-1"


async def test_a_session_and_its_form_survive_the_rotation(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    base = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    before = base.model_copy(update={"secret_key": SecretStr(OLD)})
    during = base.model_copy(
        update={"secret_key": SecretStr(NEW), "previous_secret_keys": [SecretStr(OLD)]}
    )
    after = base.model_copy(update={"secret_key": SecretStr(NEW)})
    await apply_file(before, TENANT_YAML)
    async with transaction(clean_db) as session:
        await create_user(session, email=EMAIL, password=PASSWORD, role=Role.TENANT_ADMIN,
                          tenant_id=1, actor="test")  # fmt: skip

    async with running_app(before) as old_pod:
        signed = await old_pod.client.post(
            "/panel/login", data={"email": EMAIL, "password": PASSWORD}
        )
        cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}
        page = await old_pod.client.get("/panel", headers=cookies)
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]

    async with running_app(during) as new_pod:
        assert (await new_pod.client.get("/panel", headers=cookies)).status_code == 200
        paused = await new_pod.client.post(
            f"/panel/tenants/{TENANT}/pause",
            data={"reason": "manutenção", "csrf_token": csrf},
            headers=cookies,
        )
        assert paused.status_code in (200, 303), paused.text
    async with clean_db() as session:
        assert await session.scalar(select(Tenant.paused).where(Tenant.slug == TENANT))

    async with running_app(after) as rolled:
        refused = await rolled.client.get("/api/v1/tenants", headers=cookies)
        assert refused.status_code == 401
