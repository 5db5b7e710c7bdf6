"""The worker's shared resources, built once in ``on_startup`` and kept in arq's ``ctx``."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

import httpx

from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from services.core.llm.factory import GeminiClientFactory
from services.core.redis import create_redis
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantDirectory
from services.core.turns.deps import TurnDeps
from services.core.whaticket.client import WhaticketClient


class WorkerContext(TypedDict, total=False):
    settings: Settings
    deps: TurnDeps
    http: httpx.AsyncClient
    background: list[asyncio.Task[Any]]


def build_deps(settings: Settings) -> tuple[TurnDeps, httpx.AsyncClient]:
    # Hundreds of concurrent turns share the pool; each holds a connection only briefly.
    engine = create_engine(settings.database_url, pool_size=20, pool_timeout=30)
    sessionmaker = create_sessionmaker(engine)
    cipher = CredentialCipher.from_settings(settings)
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.whaticket_timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
    deps = TurnDeps(
        settings=settings,
        sessionmaker=sessionmaker,
        redis=create_redis(settings.redis_url),
        cache_redis=create_redis(settings.cache_redis_url) if settings.cache_redis_url else None,
        tenants=TenantDirectory(sessionmaker, cipher, settings.tenant_cache_seconds),
        gemini=GeminiClientFactory.from_settings(settings),
        whaticket=WhaticketClient(http),
    )
    return deps, http
