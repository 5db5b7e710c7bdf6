"""Tenant configuration as the api and worker use it, cached briefly per process.

A webhook must not cost a database round trip just to learn who the tenant is. A change reaches
every process within moments through the change channel (:mod:`.notify`), which drops the
tenant's entry; the ``ttl`` bounds staleness when that channel is down.

A dropped (or expired) entry is not forgotten: it stays as the answer of last resort while
Postgres is unreachable, and as what :meth:`TenantDirectory.peek` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from services.core.db import SessionMaker
from services.core.logging import get_logger
from services.core.models import Tenant

from .credentials import CredentialCipher, TenantCredentials
from .notify import CHANNEL, parse_notice
from .spec import BotTenantSpec
from .webhook_keys import WebhookKeyring, WebhookKeys

log = get_logger(__name__)
# Postgres unreachable: an expired entry is still the best answer (webhooks must keep spooling).
_DB_DOWN = (DBAPIError, OSError, TimeoutError)
RESUBSCRIBE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class TenantConfig:
    id: int
    slug: str
    enabled: bool
    version: int
    spec: BotTenantSpec
    credentials: TenantCredentials
    webhook_secret_hashes: tuple[str, ...]
    paused: bool = False
    model_override: str | None = None

    @classmethod
    def from_row(cls, row: Tenant, cipher: CredentialCipher) -> TenantConfig:
        return cls(
            id=row.id,
            slug=row.slug,
            enabled=row.enabled,
            version=row.version,
            spec=BotTenantSpec.model_validate(row.spec),
            credentials=cipher.decrypt(row.credentials),
            webhook_secret_hashes=tuple(row.webhook_secret_hashes),
            paused=row.paused,
            model_override=row.model_override,
        )


class TenantDirectory:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        cipher: CredentialCipher,
        ttl: float,
        keyring: WebhookKeyring | None = None,
    ) -> None:
        """``keyring``: where this process publishes what it loads, so a pod that cannot reach
        Postgres can still authenticate webhooks (the api's; the worker needs none)."""
        self._sessionmaker = sessionmaker
        self._cipher = cipher
        self._ttl = ttl
        self._keyring = keyring
        self._by_slug: dict[str, tuple[float, TenantConfig | None]] = {}
        self._by_id: dict[int, tuple[float, TenantConfig | None]] = {}

    async def by_slug(self, slug: str) -> TenantConfig | None:
        hit = self._by_slug.get(slug)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return await self._reload(hit, Tenant.slug == slug, slug=slug)

    async def by_id(self, tenant_id: int) -> TenantConfig | None:
        hit = self._by_id.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return await self._reload(hit, Tenant.id == tenant_id, tenant_id=tenant_id)

    def peek(self, slug: str) -> TenantConfig | None:
        """What this process last knew about ``slug``, fresh or not; never any I/O."""
        hit = self._by_slug.get(slug)
        return hit[1] if hit is not None else None

    def invalidate(self, slug: str | None = None) -> None:
        """Make the next lookup of ``slug`` (every tenant if None) read Postgres again."""
        for name, (_, config) in list(self._by_slug.items()):
            if slug is None or name == slug:
                self._by_slug[name] = (0.0, config)
        for tenant_id, (_, config) in list(self._by_id.items()):
            if slug is None or (config is not None and config.slug == slug):
                self._by_id[tenant_id] = (0.0, config)

    async def follow_changes(self, redis_url: str) -> None:
        """Run forever: drop tenants named on the change channel (a background task).

        Each (re)subscription drops every entry, since notices sent meanwhile were missed; while
        Redis is down the TTL alone bounds staleness."""
        while True:
            client = aioredis.Redis.from_url(
                redis_url, socket_connect_timeout=2, socket_keepalive=True
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.invalidate()
                    log.info("tenants.following_changes")
                    while True:
                        message = await pubsub.get_message(timeout=30.0)
                        if message is None:
                            await pubsub.ping()  # a silent dead connection surfaces here
                            continue
                        if message.get("type") != "message":
                            continue
                        slug = parse_notice(message["data"])
                        if slug is not None:
                            await self._changed(slug)
            except (RedisError, OSError) as exc:
                log.warning("tenants.changes_unavailable", error=type(exc).__name__)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            await asyncio.sleep(RESUBSCRIBE_SECONDS)

    async def warm(self) -> int:
        """Load every tenant at once (the api at start-up, so :meth:`peek` knows them all)."""
        async with self._sessionmaker() as session:
            rows = list(await session.scalars(select(Tenant)))
        if self._keyring is not None:  # from the rows: a tenant that cannot load is still known
            await self._keyring.replace(WebhookKeys.of_row(row) for row in rows)
        expires = time.monotonic() + self._ttl
        for row in rows:
            config = TenantConfig.from_row(row, self._cipher)
            self._by_slug[config.slug] = (expires, config)
            self._by_id[config.id] = (expires, config)
        return len(rows)

    async def _changed(self, slug: str) -> None:
        self.invalidate(slug)
        log.info("tenants.changed", tenant=slug)
        if self._keyring is not None:  # publish the new keys now, not on the next webhook
            try:
                await self._load(Tenant.slug == slug, slug=slug)
            except Exception as exc:  # the next lookup tries again; following goes on
                log.warning("tenants.reload_failed", tenant=slug, error=type(exc).__name__)

    async def _reload(
        self, stale: tuple[float, TenantConfig | None] | None, where: object, **key: Any
    ) -> TenantConfig | None:
        try:
            return await self._load(where, **key)
        except _DB_DOWN as exc:
            if stale is None:
                raise
            log.warning("tenants.stale_cache", error=type(exc).__name__)
            return stale[1]

    async def _load(
        self, where: object, *, slug: str | None = None, tenant_id: int | None = None
    ) -> TenantConfig | None:
        async with self._sessionmaker() as session:
            row = await session.scalar(select(Tenant).where(where))  # type: ignore[arg-type]
        if self._keyring is not None:
            if row is not None:
                await self._keyring.publish(WebhookKeys.of_row(row))
            elif slug is not None:
                await self._keyring.forget(slug)
        config = TenantConfig.from_row(row, self._cipher) if row is not None else None
        expires = time.monotonic() + self._ttl
        if config is not None:
            self._by_slug[config.slug] = (expires, config)
            self._by_id[config.id] = (expires, config)
        elif slug is not None:
            self._by_slug[slug] = (expires, None)
        elif tenant_id is not None:
            self._by_id[tenant_id] = (expires, None)
        return config
