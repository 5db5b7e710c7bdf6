"""Handoff jobs: the ticket transfer, the agent's note, and the watcher loop (SLA, resume, lost
transfers and notes)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.handoff.note import post_note
from services.core.handoff.transfer import transfer
from services.core.handoff.watch import watch
from services.core.logging import get_logger
from services.core.runtime import Runtime
from services.core.turns.handoff_note import summarize
from services.worker.context import typed

from .retries import retried

log = get_logger(__name__)
WATCH_INTERVAL_SECONDS = 30.0


async def transfer_handoff(ctx: dict[str, Any], handoff_id: int) -> None:
    async with retried(ctx, "handoff", handoff_id=handoff_id):
        await transfer(typed(ctx)["runtime"], handoff_id)


async def post_handoff_note(ctx: dict[str, Any], handoff_id: int) -> None:
    async with retried(ctx, "handoff_note", handoff_id=handoff_id):
        await post_note(typed(ctx)["runtime"], handoff_id, summarize)


async def watch_forever(deps: Runtime, interval: float = WATCH_INTERVAL_SECONDS) -> None:
    while True:
        try:
            await watch(deps)
        except Exception as exc:  # Postgres or Redis down: try again next period
            log.warning("handoff.watch_loop_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
