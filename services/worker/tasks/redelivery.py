"""The redelivery loop, run inside every worker: replies waiting for their Whaticket
connection go out once it is back (services/core/dlq/redelivery.py; one pass at a time)."""

from __future__ import annotations

import asyncio

from services.core.dlq.redelivery import redeliver
from services.core.logging import get_logger
from services.core.runtime import Runtime

log = get_logger(__name__)


async def redeliver_forever(deps: Runtime) -> None:
    interval = deps.settings.redelivery_interval_seconds
    while True:
        try:
            await redeliver(deps)
        except Exception as exc:  # Postgres or Redis down: try again next period
            log.warning("redelivery.failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
