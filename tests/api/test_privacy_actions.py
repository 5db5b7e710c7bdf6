"""The action API answers data-subject requests with the tenant's own key: export returns the
customer's messages as stored from the webhook, forget erases them; another tenant's key, or
none, gets 401 and changes nothing, and the same phone at another tenant is another customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis

from services.cli.admin import apply_file
from services.core.db import SessionMaker
from tests.api.test_actions import KEY, OTHER_KEY, with_action_key
from tests.api.webhook_app import (
    TENANT,
    TENANT_YAML,
    RunningApp,
    baileys,
    hook_path,
    make_settings,
    running_app,
)
from tests.core.privacy.dump import dump_postgres, everything
from tests.fixtures.tenant_files import renamed

PHONE = "5511933332222"


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, with_action_key(TENANT_YAML, TENANT, KEY))
    other = renamed(TENANT_YAML, TENANT, "other")
    await apply_file(settings, with_action_key(other, "other", OTHER_KEY))
    async with running_app(settings) as app:
        yield app


async def test_a_tenants_key_exports_and_forgets_only_its_own_customer(
    api: RunningApp, clean_db: SessionMaker
) -> None:
    remote = f"{PHONE}@s.whatsapp.net"
    assert (
        await api.post(baileys("PRV-1", "SEGREDO do cliente", remote=remote))
    ).status_code == 200
    elsewhere = baileys("PRV-2", "CLIENTE do outro tenant", remote=remote)
    assert (await api.post(elsewhere, hook_path(tenant="other"))).status_code == 200
    path = f"/api/v1/actions/{TENANT}/contacts"
    body = {"phone": PHONE}

    for headers in ({}, {"Authorization": f"Bearer {OTHER_KEY}"}):
        for action in ("export", "forget"):
            refused = await api.client.post(f"{path}/{action}", json=body, headers=headers)
            assert refused.status_code == 401, refused.text
    assert "SEGREDO do cliente" in everything(await dump_postgres(clean_db), {})

    auth = {"Authorization": f"Bearer {KEY}"}
    exported = await api.client.post(f"{path}/export", json=body, headers=auth)
    assert exported.status_code == 200, exported.text
    [conversation] = exported.json()["conversations"]
    assert [m["text"] for m in conversation["messages"]] == ["SEGREDO do cliente"]
    assert conversation["messages"][0]["payload"]["key"]["id"] == "PRV-1"
    assert "CLIENTE do outro tenant" not in exported.text

    forgot = await api.client.post(f"{path}/forget", json=body, headers=auth)
    assert forgot.status_code == 200, forgot.text
    assert forgot.json()["erased"]["messages"] == 1
    assert PHONE not in forgot.text
    dumped = everything(await dump_postgres(clean_db), {})
    assert "SEGREDO do cliente" not in dumped
    assert "CLIENTE do outro tenant" in dumped

    bad = await api.client.post(f"{path}/export", json={"phone": "12"}, headers=auth)
    assert bad.status_code == 422
