"""The sweeper loop, run inside every worker; an advisory lock keeps it to one at a time."""

from __future__ import annotations

import asyncio

from services.core.logging import get_logger
from services.core.runtime import Runtime
from services.core.turns.sweeper import sweep

log = get_logger(__name__)


async def sweep_forever(deps: Runtime) -> None:
    interval = deps.settings.sweep_interval_seconds
    while True:
        try:
            await sweep(
                deps.sessionmaker, deps.redis, stuck_after=deps.settings.stuck_after_seconds
            )
        except Exception as exc:  # Postgres or Redis down: try again next period
            log.warning("sweeper.failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
