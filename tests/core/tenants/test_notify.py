"""A tenant change reaches a running process's cache through the change channel within moments,
long before the cache TTL; with the channel down, the TTL still bounds staleness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis

from services.cli.admin import apply_file
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantDirectory
from services.core.tenants.notify import tenant_changed
from tests.api.webhook_app import TENANT, TENANT_YAML, make_settings
from tests.e2e.conftest import eventually
from tests.fixtures.servers import free_port

NEW_PROMPT = "Você é o assistente renovado da Loja Teste."


@pytest_asyncio.fixture(loop_scope="session")
async def settings(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> Settings:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, TENANT_YAML)
    return settings


@contextlib.asynccontextmanager
async def following(directory: TenantDirectory, redis_url: str) -> AsyncIterator[None]:
    task = asyncio.create_task(directory.follow_changes(redis_url))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _directory(sessionmaker: SessionMaker, settings: Settings, ttl: float) -> TenantDirectory:
    return TenantDirectory(
        sessionmaker, CredentialCipher(settings.secret_key.get_secret_value()), ttl
    )


def _prompt_is(directory: TenantDirectory, prompt: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        tenant = await directory.by_slug(TENANT)
        return tenant is not None and tenant.spec.persona.system_prompt == prompt

    return check


async def test_apply_reaches_a_following_process_in_moments(
    settings: Settings, clean_db: SessionMaker
) -> None:
    directory = _directory(clean_db, settings, ttl=3600)  # the TTL alone would take an hour
    by_id_before = await directory.by_slug(TENANT)
    assert by_id_before is not None
    async with following(directory, settings.redis_url):
        await asyncio.sleep(0.3)  # subscribed
        await apply_file(
            settings, TENANT_YAML.replace("Você é a assistente da Loja Teste.", NEW_PROMPT)
        )
        await eventually(_prompt_is(directory, NEW_PROMPT), within=2, what="the new prompt")
        changed = await directory.by_id(by_id_before.id)
        assert changed is not None
        assert changed.version == by_id_before.version + 1


async def test_a_malformed_notice_is_ignored_and_the_ttl_is_the_fallback(
    settings: Settings, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    directory = _directory(clean_db, settings, ttl=1.0)
    await directory.by_slug(TENANT)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # pub/sub unreachable
    async with following(directory, dead_redis):
        await redis_client.publish("atende:tenants", b"not json")
        assert await tenant_changed(redis_client, "some-other-tenant")
        await apply_file(
            settings, TENANT_YAML.replace("Você é a assistente da Loja Teste.", NEW_PROMPT)
        )
        tenant = await directory.by_slug(TENANT)
        assert tenant is not None
        assert tenant.spec.persona.system_prompt != NEW_PROMPT  # cached: no notice got through
        await eventually(_prompt_is(directory, NEW_PROMPT), within=3, what="the TTL to lapse")
    # What this process knew is kept for memory-only checks (pre-auth gate, Postgres down).
    assert directory.peek(TENANT) is not None
