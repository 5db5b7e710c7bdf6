"""The engine as every process builds it: readiness's Postgres check passes on an answering
server and raises on an unreachable one (the route reports it as down and falls back to the
spool), and a failed statement's error never carries the values it was given."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.db import create_engine, ping
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
