"""The api process: webhooks, health, metrics, the panel and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.core import db_roles, jobs
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker
from services.core.inbound.receiver import WebhookReceiver
from services.core.inbound.spool import Spool
from services.core.logging import get_logger
from services.core.metrics import (
    QUEUE_OLDEST_READY,
    QUEUE_READY,
    REDIS_KEYS,
    REDIS_MAX_MEMORY,
    REDIS_USED_MEMORY,
)
from services.core.ratelimit.failed_auth import FailedAuthGuard
from services.core.ratelimit.limiter import RateLimiter
from services.core.redis import create_redis
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantDirectory
from services.core.tenants.webhook_keys import WebhookKeyring

from . import panel
from .errors import install_error_handlers
from .middleware import BodySizeLimit, RequestLog, SecurityHeaders
from .routes import actions, health, hooks, privacy_actions, privacy_v1, v1
from .state import AppState
from .webhook_route import WhaticketWebhook

log = get_logger(__name__)
SPOOL_REPLAY_SECONDS = 2.0
QUEUE_GAUGE_SECONDS = 5.0


async def _every(seconds: float, name: str, work: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await work()
        except Exception as exc:  # a dependency is down; the next round tries again
            log.warning(f"{name}.failed", error=type(exc).__name__)
        await asyncio.sleep(seconds)


def _build_state(settings: Settings) -> AppState:
    engine = create_engine(settings.database_url, pool_size=20)
    sessionmaker = create_sessionmaker(engine)
    redis = create_redis(settings.redis_url, fail_fast=True)
    cache = (
        create_redis(settings.cache_redis_url, fail_fast=True)
        if settings.cache_redis_url
        else redis
    )
    cipher = CredentialCipher.from_settings(settings)
    keyring = WebhookKeyring(redis)
    tenants = TenantDirectory(sessionmaker, cipher, settings.tenant_cache_seconds, keyring)
    spool = Spool(redis, settings.spool_dir)
    guard = FailedAuthGuard(
        RateLimiter(cache),
        per_minute=settings.webhook_ip_failures_per_minute,
        burst=settings.webhook_ip_failure_burst,
    )
    receiver = WebhookReceiver(sessionmaker, redis, tenants, spool, guard, keyring)
    return AppState(settings, engine, sessionmaker, redis, cache, tenants, spool, receiver)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = _build_state(settings)
        app.state.atende = state

        async def queue_gauge() -> None:
            QUEUE_READY.set(await jobs.ready_backlog(state.redis))
            QUEUE_OLDEST_READY.set(await jobs.oldest_ready_age(state.redis))
            roles = {"queue": state.redis}
            if state.cache is not state.redis:
                roles["cache"] = state.cache
            for role, client in roles.items():
                memory = await client.info("memory")
                REDIS_USED_MEMORY.labels(role).set(float(memory.get("used_memory", 0)))
                REDIS_MAX_MEMORY.labels(role).set(float(memory.get("maxmemory", 0)))
                REDIS_KEYS.labels(role).set(await client.dbsize())

        async def warm_tenants() -> None:
            try:
                await state.tenants.warm()
            except Exception as exc:  # Postgres down: tenants load on first use instead
                log.warning("tenants.warm_failed", error=type(exc).__name__)

        background = [
            asyncio.create_task(_every(SPOOL_REPLAY_SECONDS, "spool", state.receiver.replay_spool)),
            asyncio.create_task(_every(QUEUE_GAUGE_SECONDS, "queue_gauge", queue_gauge)),
            asyncio.create_task(state.tenants.follow_changes(settings.redis_url)),
            asyncio.create_task(warm_tenants()),
            asyncio.create_task(db_roles.check_runtime_role(state.sessionmaker)),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:  # what this process was replaying goes back to the others now
                await state.spool.release()
            except Exception as exc:  # Redis down: the others take it once its key expires
                log.warning("spool.release_failed", error=type(exc).__name__)
            await state.redis.aclose()
            if state.cache is not state.redis:
                await state.cache.aclose()
            await state.engine.dispose()

    app = FastAPI(
        title="Atende",
        version="0.1.0",
        summary="AI attendant for WhatsApp helpdesks that run Whaticket.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(hooks.router)
    app.include_router(health.router)
    app.include_router(v1.router)
    app.include_router(actions.router)
    app.include_router(privacy_actions.router)
    app.include_router(privacy_v1.router)
    panel.install(app)
    app.add_middleware(WhaticketWebhook)  # innermost: inside the cap, the log and the headers
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestLog)
    app.add_middleware(SecurityHeaders, trusted_proxy_hops=settings.trusted_proxy_hops)
    return app
