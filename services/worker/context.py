"""The worker's shared resources, built once in ``on_startup`` and kept in arq's ``ctx``.

arq hands every job and hook the same plain dict; :class:`WorkerContext` is its shape and
:func:`typed` the one place that says so, so a task reads ``typed(ctx)["runtime"]`` as a
:class:`~services.core.runtime.Runtime`, not as ``Any``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, TypedDict, cast

import httpx
from arq.connections import ArqRedis

from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from services.core.llm.factory import GeminiClientFactory
from services.core.redis import create_redis
from services.core.runtime import Runtime
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantDirectory

from .health import Health


class WorkerContext(TypedDict, total=False):
    # arq's own keys (arq.worker.Worker.run_job)
    redis: ArqRedis
    job_id: str
    job_try: int
    enqueue_time: datetime
    score: int
    # ours: given to the worker, then built by on_startup
    settings: Settings
    health: Health
    runtime: Runtime
    background: list[asyncio.Task[Any]]


def typed(ctx: dict[str, Any]) -> WorkerContext:
    return cast(WorkerContext, ctx)


def build_runtime(settings: Settings) -> Runtime:
    # Hundreds of concurrent turns share the pool; each holds a connection only briefly.
    engine = create_engine(settings.database_url, pool_size=20, pool_timeout=30)
    sessionmaker = create_sessionmaker(engine)
    cipher = CredentialCipher.from_settings(settings)
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.whaticket_timeout_seconds, connect=5.0),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )
    return Runtime(
        settings=settings,
        sessionmaker=sessionmaker,
        redis=create_redis(settings.redis_url),
        cache_redis=create_redis(settings.cache_redis_url) if settings.cache_redis_url else None,
        tenants=TenantDirectory(sessionmaker, cipher, settings.tenant_cache_seconds),
        gemini=GeminiClientFactory.from_settings(settings),
        http=http,
    )
