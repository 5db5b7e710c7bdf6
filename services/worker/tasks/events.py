"""Workflow events: the delivery job, and the loop that queues what is due (new events, retries
whose backoff has passed, and anything Redis lost)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core import events, jobs
from services.core.logging import get_logger
from services.core.runtime import Runtime
from services.worker.context import typed

log = get_logger(__name__)


async def deliver_event(ctx: dict[str, Any], delivery_id: int) -> None:
    runtime = typed(ctx)["runtime"]
    await events.deliver(
        runtime.sessionmaker, runtime.tenants, runtime.egress, runtime.settings, delivery_id
    )


async def dispatch_forever(deps: Runtime) -> None:
    while True:
        try:
            for delivery_id in await events.due_deliveries(deps.sessionmaker):
                await jobs.enqueue_event(deps.redis, delivery_id)
        except Exception as exc:  # Postgres or Redis down: try again next period
            log.warning("event.dispatch_failed", error=type(exc).__name__)
        await asyncio.sleep(deps.settings.events_poll_seconds)
