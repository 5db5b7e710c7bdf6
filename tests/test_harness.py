"""The test harness itself: its servers are real, private to the run, and its faults really bite.

If these fail, every other result is suspect: a test could be talking to the machine's own
Postgres or Redis, or an "outage" test could be passing without any outage.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from services.core.db import SessionMaker, transaction
from services.core.models import Tenant
from tests.fixtures.servers import FaultProxy, PostgresHandle, RedisHandle


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _parent_pid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _direct_client(port: int) -> aioredis.Redis:
    """A client with short timeouts and no retries, so a fault shows up as an error at once."""
    return aioredis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def redis_proxy(redis_server: RedisHandle) -> AsyncIterator[FaultProxy]:
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        yield proxy


# -- Postgres --------------------------------------------------------------------------------------


async def test_postgres_is_the_embedded_server(
    postgres: PostgresHandle, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT current_database(), current_setting('data_directory'),"
                    " current_setting('listen_addresses'),"
                    " current_setting('unix_socket_directories'), pg_backend_pid()"
                )
            )
        ).one()
    database, data_directory, listen_addresses, socket_dirs, backend_pid = row
    assert database == "atende_test"
    if not postgres.managed:
        pytest.skip("external Postgres: nothing more to prove about whose it is")
    assert data_directory == str(postgres.pgdata)
    assert listen_addresses == ""  # no TCP at all, so it cannot be the server on :5432
    assert socket_dirs == str(postgres.socket_dir)
    assert postgres.pid is not None
    assert _parent_pid(backend_pid) == postgres.pid


async def test_database_is_migrated(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert version is not None


@pytest.mark.parametrize("round_", [1, 2])
async def test_clean_db_empties_tables_and_resets_ids(clean_db: SessionMaker, round_: int) -> None:
    async with transaction(clean_db) as session:
        assert (await session.execute(select(Tenant))).first() is None
        tenant = Tenant(
            slug=f"acme-{round_}",
            display_name="Acme",
            spec={},
            spec_hash="0" * 64,
            webhook_secret_hashes=[],
            credentials=b"",
        )
        session.add(tenant)
        await session.flush()
        assert tenant.id == 1


async def test_postgres_outage_and_restart(
    managed_postgres: PostgresHandle, engine: AsyncEngine
) -> None:
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    pid_before = managed_postgres.pid
    with managed_postgres.outage():
        assert not managed_postgres.is_running()
        with pytest.raises((DBAPIError, OSError)):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    assert managed_postgres.is_running()
    assert managed_postgres.pid != pid_before
    async with engine.connect() as conn:  # the pool's pre-ping replaces dead connections
        assert (await conn.execute(text("SELECT 1"))).scalar() == 1


async def test_fault_proxy_reaches_postgres_unix_socket(
    managed_postgres: PostgresHandle, database_url: str
) -> None:
    with FaultProxy(managed_postgres.socket_path) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/atende_test"
        engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 1})
        try:
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
            proxy.blackhole()
            with pytest.raises((TimeoutError, OSError, DBAPIError)):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            proxy.restore()
            async with engine.connect() as conn:
                assert (await conn.execute(text("SELECT 1"))).scalar() == 1
        finally:
            await engine.dispose()


# -- Redis -----------------------------------------------------------------------------------------


async def test_redis_is_ours(redis_server: RedisHandle, redis_client: aioredis.Redis) -> None:
    assert await redis_client.ping() is True
    if not redis_server.managed:
        pytest.skip("external Redis: nothing more to prove about whose it is")
    assert redis_server.port != 6379
    assert (await redis_client.config_get("port")) == {"port": str(redis_server.port)}
    info = await redis_client.info("server")
    assert info["process_id"] == redis_server.pid
    assert info["tcp_port"] == redis_server.port


@pytest.mark.parametrize("round_", [1, 2])
async def test_redis_client_starts_empty(redis_client: aioredis.Redis, round_: int) -> None:
    assert await redis_client.dbsize() == 0
    await redis_client.set(f"left-over-{round_}", "x")


async def test_redis_restart_keeps_the_port(managed_redis: RedisHandle) -> None:
    pid_before = managed_redis.pid
    managed_redis.restart()
    assert managed_redis.pid not in (None, pid_before)
    client = _direct_client(managed_redis.port)
    try:
        assert await client.ping() is True
    finally:
        await client.aclose()


# -- Fault proxy -----------------------------------------------------------------------------------


async def test_blackhole_times_out_and_restore_recovers(redis_server: RedisHandle) -> None:
    fds_before = _open_fds()
    proxy = FaultProxy(redis_server.host, redis_server.port)
    client = _direct_client(proxy.port)
    try:
        assert await client.ping() is True
        proxy.blackhole()
        started = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.ping()
        assert time.monotonic() - started >= 0.4
        proxy.restore()
        assert await client.ping() is True
    finally:
        await client.aclose()
        proxy.stop()
    assert _open_fds() == fds_before, "the proxy left sockets or loop descriptors open"
    with pytest.raises(ConnectionRefusedError):  # nothing listens on the proxy's port any more
        socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5).close()


async def test_reset_closes_connections(redis_proxy: FaultProxy) -> None:
    client = _direct_client(redis_proxy.port)
    try:
        assert await client.ping() is True
        redis_proxy.reset()
        with pytest.raises(RedisConnectionError):
            await client.ping()
        # New connections are closed on accept too. redis-py's first reconnect after the RST
        # sometimes hangs in connect() until its timeout instead, hence TimeoutError as well.
        for _ in range(2):
            with pytest.raises((RedisConnectionError, RedisTimeoutError)):
                await client.ping()
        redis_proxy.restore()
        assert await client.ping() is True
    finally:
        await client.aclose()


async def test_latency_delays_each_direction(redis_proxy: FaultProxy) -> None:
    client = _direct_client(redis_proxy.port)
    try:
        assert await client.ping() is True
        redis_proxy.latency(0.15)
        started = time.monotonic()
        assert await client.ping() is True
        assert time.monotonic() - started >= 0.3  # request and reply are both delayed
        redis_proxy.restore()
        started = time.monotonic()
        assert await client.ping() is True
        assert time.monotonic() - started < 0.15
    finally:
        await client.aclose()
