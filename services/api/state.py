"""Resources the api process builds once at start-up (lifespan) and hands to routes."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.inbound.receiver import WebhookReceiver
from services.core.inbound.spool import Spool
from services.core.tenants.directory import TenantDirectory


@dataclass(slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: SessionMaker
    redis: ArqRedis
    # TTL'd state (throttles); the queue's Redis unless ATENDE_CACHE_REDIS_URL is set.
    cache: ArqRedis
    tenants: TenantDirectory
    spool: Spool
    receiver: WebhookReceiver
