"""The sweeper loop, run inside every worker; an advisory lock keeps it to one at a time."""

from __future__ import annotations

import asyncio
import time

from services.core import knowledge
from services.core.logging import get_logger
from services.core.runtime import Runtime
from services.core.turns.sweeper import sweep

log = get_logger(__name__)
# How often the sweep looks for knowledge whose embedding job was lost or ran out of tries.
EMBEDDING_SWEEP_SECONDS = 300


async def sweep_forever(deps: Runtime) -> None:
    settings = deps.settings
    interval = settings.sweep_interval_seconds
    while True:
        try:
            await sweep(deps.sessionmaker, deps.redis, stuck_after=settings.stuck_after_seconds)
            # Knowledge without vectors, rarely: a failing embedding is not retried every sweep.
            period, due = divmod(int(time.time()), EMBEDDING_SWEEP_SECONDS)
            if due < interval:
                await knowledge.requeue_embeddings(
                    deps.sessionmaker,
                    deps.redis,
                    settings.embedding_model,
                    settings.embedding_dimensions,
                    period,
                )
        except Exception as exc:  # Postgres or Redis down: try again next period
            log.warning("sweeper.failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
