"""The migrations build exactly the schema the models describe, and undo it cleanly.

Runs on its own database so the session's ``atende_test`` keeps its schema for other tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core import schema
from services.core.models import Base
from tests.fixtures.servers import PostgresHandle, scratch_database


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_url(postgres: PostgresHandle) -> AsyncIterator[str]:
    """An empty database of its own, dropped afterwards."""
    async with scratch_database(postgres, "atende_migrations") as url:
        yield url


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {schema.SCRIPTS_TABLE}


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "target_metadata": Base.metadata,
            "include_name": schema.include_name,
        },
    )
    return list(compare_metadata(context, Base.metadata))


async def _run[T](url: str, fn: Callable[[Connection], T]) -> T:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade_matches_models(fresh_url: str) -> None:
    model_tables = set(Base.metadata.tables)

    await asyncio.to_thread(schema.upgrade, fresh_url, "head")
    assert await _run(fresh_url, _table_names) == model_tables | {"alembic_version"}

    await asyncio.to_thread(schema.downgrade, fresh_url, "base")
    assert await _run(fresh_url, _table_names) == {"alembic_version"}

    await asyncio.to_thread(schema.upgrade, fresh_url, "head")
    assert await _run(fresh_url, _table_names) == model_tables | {"alembic_version"}

    assert "(head)" in await asyncio.to_thread(schema.current, fresh_url)
    diff = await _run(fresh_url, _diff)
    assert diff == [], f"models and migrations differ: {diff}"
