"""Tenant configuration as the api and worker use it, cached briefly per process.

A webhook must not cost a database round trip just to learn who the tenant is; a few seconds of
staleness is the price (a change reaches every process within ``ttl``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from services.core.db import SessionMaker
from services.core.logging import get_logger
from services.core.models import Tenant

from .credentials import CredentialCipher, TenantCredentials
from .spec import BotTenantSpec

log = get_logger(__name__)
# Postgres unreachable: an expired entry is still the best answer (webhooks must keep spooling).
_DB_DOWN = (DBAPIError, OSError, TimeoutError)


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
    def __init__(self, sessionmaker: SessionMaker, cipher: CredentialCipher, ttl: float) -> None:
        self._sessionmaker = sessionmaker
        self._cipher = cipher
        self._ttl = ttl
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
