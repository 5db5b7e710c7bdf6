"""Readiness's Postgres check: an answering server passes, an unreachable one raises (the route
reports it as down and falls back to the spool)."""

from __future__ import annotations

import pytest
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
