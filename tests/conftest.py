"""Session-wide real Postgres and Redis for every test.

The servers start once per session (embedded Postgres, a private redis-server) unless
``ATENDE_TEST_DATABASE_URL`` / ``ATENDE_TEST_REDIS_URL`` name servers to use instead. Tests that
stop or restart a server should ask for ``managed_postgres`` / ``managed_redis``, which skip when
the server is external.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core import schema
from services.core.db import SessionMaker, create_engine, create_sessionmaker
from services.core.models import Base
from tests.fixtures.servers import (
    PostgresHandle,
    RedisHandle,
    asyncpg_url,
    create_database,
    drop_database,
    start_postgres,
    start_redis,
)

# The turn harness (Harness, make_harness, the stand-in fixtures) for every domain's tests.
pytest_plugins = ["tests.fixtures.turns"]

TEST_DATABASE = "atende_test"


def _no_proxy_for_loopback() -> None:
    """HTTP clients must reach the stand-ins on 127.0.0.1 directly, whatever proxy is configured."""
    for name in ("NO_PROXY", "no_proxy"):
        entries = [e for e in os.environ.get(name, "").split(",") if e.strip()]
        for host in ("127.0.0.1", "localhost"):
            if host not in entries:
                entries.append(host)
        os.environ[name] = ",".join(entries)


_no_proxy_for_loopback()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresHandle]:
    """The session's Postgres server (embedded unless ATENDE_TEST_DATABASE_URL is set)."""
    external = os.environ.get("ATENDE_TEST_DATABASE_URL")
    if external:
        yield PostgresHandle.external(asyncpg_url(external))
        return
    tmp = Path(tempfile.mkdtemp(prefix="atende-pg-"))
    handle = start_postgres(tmp)
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def managed_postgres(postgres: PostgresHandle) -> PostgresHandle:
    """The session Postgres, for tests that stop or restart it; skipped when it is external."""
    if not postgres.managed:
        pytest.skip("Postgres is external (ATENDE_TEST_DATABASE_URL); it cannot be restarted")
    return postgres


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def database_url(postgres: PostgresHandle) -> AsyncIterator[str]:
    """URL of a fresh ``atende_test`` database migrated to head."""
    await create_database(postgres.admin_url, TEST_DATABASE)
    url = postgres.url(TEST_DATABASE)
    await schema.upgrade_async(url)
    yield url
    if postgres.is_running() or not postgres.managed:
        await drop_database(postgres.admin_url, TEST_DATABASE)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisHandle]:
    """The session's Redis server (a private redis-server unless ATENDE_TEST_REDIS_URL is set)."""
    external = os.environ.get("ATENDE_TEST_REDIS_URL")
    if external:
        yield RedisHandle.external(external)
        return
    tmp = Path(tempfile.mkdtemp(prefix="atende-redis-"))
    handle = start_redis(tmp)
    try:
        yield handle
    finally:
        handle.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def managed_redis(redis_server: RedisHandle) -> RedisHandle:
    """The session Redis, for tests that stop or restart it; skipped when it is external."""
    if not redis_server.managed:
        pytest.skip("Redis is external (ATENDE_TEST_REDIS_URL); it cannot be restarted")
    return redis_server


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisHandle) -> str:
    return redis_server.url


@pytest_asyncio.fixture(loop_scope="session")
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the session Redis, emptied (FLUSHALL) before the test."""
    client = aioredis.Redis.from_url(redis_url)
    await client.flushall()
    try:
        yield client
    finally:
        await client.aclose()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return create_sessionmaker(engine)


@pytest_asyncio.fixture(loop_scope="session")
async def clean_db(engine: AsyncEngine, sessionmaker: SessionMaker) -> AsyncIterator[SessionMaker]:
    """Every table emptied and its identities reset, so ids in a test start at 1."""
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        # The audit log refuses TRUNCATE (a trigger); only a superuser, as the tests are, may
        # switch triggers off for its own transaction.
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
    yield sessionmaker
