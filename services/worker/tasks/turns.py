"""Turn jobs: a thin boundary between arq and the turn service."""

from __future__ import annotations

import uuid
from typing import Any

from services.core.logging import bind_correlation_id
from services.core.turns.runner import process_inbound as run_turns
from services.worker.context import typed

from .retries import retried


async def process_inbound(
    ctx: dict[str, Any], inbound_id: int, correlation_id: str | None = None
) -> None:
    bind_correlation_id(correlation_id)
    owner = f"{typed(ctx).get('job_id', 'job')}:{uuid.uuid4().hex[:8]}"
    async with retried(ctx, "turn", inbound_id=inbound_id):
        await run_turns(typed(ctx)["runtime"], inbound_id, owner=owner)
