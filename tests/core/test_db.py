"""The engine as every process builds it: readiness's Postgres check passes on an answering
server and raises on an unreachable one (the route reports it as down and falls back to the
spool), a failed statement's error never carries the values it was given, and the statements
run straight on asyncpg fail as SQLAlchemy's do."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db import (
    autocommit,
    create_engine,
    create_sessionmaker,
    fetch,
    fetchrow,
    ping,
    transaction,
)
from tests.fixtures.servers import free_port


async def test_ping_passes_on_a_live_server_and_raises_on_a_closed_port(
    engine: AsyncEngine,
) -> None:
    await ping(engine)
    down = create_engine(f"postgresql+asyncpg://x:y@127.0.0.1:{free_port()}/none", pool_size=1)
    try:
        with pytest.raises(ConnectionRefusedError):
            await ping(down)
    finally:
        await down.dispose()


async def test_a_failed_statement_never_carries_its_values(database_url: str) -> None:
    """What a customer wrote stays out of the error that a log or a traceback prints."""
    engine = create_engine(database_url, pool_size=1)
    said = "Meu CPF é 123.456.789-00 e meu telefone 5511988887777"
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as info:
                await connection.execute(
                    text("select cast(:n as int), :said"), {"n": "x", "said": said}
                )
    finally:
        await engine.dispose()
    assert "123.456.789-00" not in str(info.value)
    assert "5511988887777" not in str(info.value)
    assert "parameters hidden" in str(info.value)


async def test_statements_on_asyncpg_fail_as_sqlalchemys_do(database_url: str) -> None:
    """The hot path's statements run straight on asyncpg: one in a transaction is refused (it
    would run outside it), a failed one raises SQLAlchemy's error without its values, and one
    whose connection died raises the error the jobs retry on, its connection out of the pool."""
    engine = create_engine(database_url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    said = "Meu CPF é 123.456.789-00"
    try:
        async with transaction(sessionmaker) as session:
            with pytest.raises(RuntimeError, match="outside a transaction"):
                await fetch(session, "SELECT 1")
        async with autocommit(sessionmaker) as session:
            assert [tuple(r) for r in await fetch(session, "SELECT $1::int + 1", 41)] == [(42,)]
            with pytest.raises(DBAPIError) as refused:
                await fetchrow(session, "SELECT cast($1 AS int), $2", "x", said)
            assert "123.456.789-00" not in str(refused.value)
            assert not refused.value.connection_invalidated
            backend = (await fetchrow(session, "SELECT pg_backend_pid() AS pid"))["pid"]  # type: ignore[index]
        killer = create_engine(database_url, pool_size=1)
        async with killer.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        await killer.dispose()
        async with autocommit(sessionmaker) as session:
            with pytest.raises(OperationalError) as lost:
                await fetch(session, "SELECT 1")
            assert lost.value.connection_invalidated
        async with autocommit(sessionmaker) as session:  # a new connection took its place
            assert (await fetchrow(session, "SELECT 1 AS one"))["one"] == 1  # type: ignore[index]
    finally:
        await engine.dispose()
