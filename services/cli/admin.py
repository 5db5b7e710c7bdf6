"""Operations behind the admin commands, each one transaction on its own engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.core import jobs
from services.core.config import Settings
from services.core.db import SessionMaker, create_engine, create_sessionmaker, transaction
from services.core.dlq import service as dlq
from services.core.errors import AtendeError
from services.core.models import DeadLetter, Tenant
from services.core.redis import create_redis
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import ApplyResult, apply_tenant
from services.core.tenants.service import list_tenants as _list


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[SessionMaker]:
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def apply_file(settings: Settings, text: str) -> list[ApplyResult]:
    manifests, secrets = load_manifests(text)
    cipher = CredentialCipher(settings.secret_key.get_secret_value())
    async with _database(settings) as sessionmaker, transaction(sessionmaker) as session:
        return [await apply_tenant(session, m, secrets, cipher) for m in manifests]


async def list_tenants(settings: Settings) -> list[Tenant]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await _list(session)


async def list_dead_letters(settings: Settings, *, show_all: bool) -> list[DeadLetter]:
    async with _database(settings) as sessionmaker, sessionmaker() as session:
        return await dlq.list_dead_letters(session, status=None if show_all else "open")


async def replay_dead_letters(settings: Settings, ids: list[int]) -> list[str]:
    outcomes: list[str] = []
    redis = create_redis(settings.redis_url)
    try:
        async with _database(settings) as sessionmaker:
            for dead_letter_id in ids:
                try:
                    async with transaction(sessionmaker) as session:
                        replay = await dlq.replay(session, dead_letter_id)
                except AtendeError as exc:
                    outcomes.append(f"dead letter {dead_letter_id}: {exc.message}")
                    continue
                queued = await jobs.enqueue_inbound(
                    redis, replay.inbound_id, suffix=f"replay{dead_letter_id}"
                )
                note = "stored; the sweeper will queue it" if queued == "failed" else "queued"
                outcomes.append(f"dead letter {dead_letter_id}: replayed ({note})")
    finally:
        await redis.aclose()
    return outcomes
