"""Database engine and sessions. The request or job boundary owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import CursorResult, Executable, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SessionMaker = async_sessionmaker[AsyncSession]


def create_engine(url: str, *, pool_size: int = 10, pool_timeout: float = 5) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        # No overflow: connections opened and closed under load cost far more (a Postgres
        # backend process each) than a short wait for a pooled one.
        max_overflow=0,
        # No pre-ping: it costs a round trip per checkout. A connection that died with its
        # server fails its statement once, invalidates the pool, and the caller's retry path
        # (spool in the api, Retry in the worker) takes over.
        pool_timeout=pool_timeout,
        connect_args={"timeout": 5, "command_timeout": 15},
        # A failed statement's error never carries its values (customers' phones, texts, raw
        # payloads) into a log, a traceback or an error page.
        hide_parameters=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> SessionMaker:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with sessionmaker() as session, session.begin():
        yield session


@asynccontextmanager
async def autocommit(sessionmaker: SessionMaker) -> AsyncIterator[AsyncSession]:
    """Statements outside a transaction, each committed on its own: for reads (under READ
    COMMITTED each statement has its own snapshot anyway) and for a unit of work that is one
    statement. It spares the BEGIN and COMMIT (or ROLLBACK) round trips of a transaction;
    ``SET LOCAL`` and several statements that must stand or fall together need
    :func:`transaction`."""
    async with sessionmaker() as session:
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session


async def fetch(session: AsyncSession, sql: str, *args: object) -> list[asyncpg.Record]:
    """Run ``sql`` ($1, $2… parameters) straight on the asyncpg connection of an
    :func:`autocommit` session: a prepared statement asyncpg caches per connection, without
    SQLAlchemy's statement handling, a few times cheaper for the statements every turn runs.

    Outside a transaction only (SQLAlchemy begins one lazily, on its own first statement). A
    failure is raised as SQLAlchemy would raise it, without the parameters; a connection it
    broke leaves the pool."""
    connection = await session.connection()
    pooled = await connection.get_raw_connection()
    adapted, driver = pooled.dbapi_connection, pooled.driver_connection
    if adapted is None or driver is None or not adapted.autocommit:
        raise RuntimeError("db.fetch runs outside a transaction: use an autocommit session")
    try:
        records: list[asyncpg.Record] = await driver.fetch(sql, *args)
    except (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        # A connection whose server went away while it sat in the pool can raise this.
        asyncpg.InternalClientError,
        OSError,
        TimeoutError,
    ) as exc:
        lost = not isinstance(exc, asyncpg.PostgresError) or isinstance(
            exc, asyncpg.PostgresConnectionError | asyncpg.exceptions.AdminShutdownError
        )
        if lost:
            await connection.invalidate(exc)
        error = OperationalError if lost else DBAPIError
        raise error(sql, None, exc, connection_invalidated=lost) from exc
    return records


async def fetchrow(session: AsyncSession, sql: str, *args: object) -> asyncpg.Record | None:
    """The first row of :func:`fetch`, or None."""
    rows = await fetch(session, sql, *args)
    return rows[0] if rows else None


async def execute(
    session: AsyncSession, statement: Executable, params: dict[str, Any] | None = None
) -> CursorResult[Any]:
    """Run a Core statement on the session's connection, skipping the ORM's bookkeeping
    (identity map, synchronizing updated objects): for paths every message takes."""
    connection = await session.connection()
    return await connection.execute(statement, params)


async def ping(engine: AsyncEngine) -> None:
    """One round trip on a pooled connection: readiness asks whether Postgres answers."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
