"""Turn jobs: a thin boundary between arq and the turn service."""

from __future__ import annotations

import uuid
from typing import Any

from arq import Retry

from services.core.logging import bind_correlation_id, get_logger
from services.core.turns.service import RetryLater
from services.core.turns.service import process_inbound as run_turns

log = get_logger(__name__)


async def process_inbound(
    ctx: dict[str, Any], inbound_id: int, correlation_id: str | None = None
) -> None:
    bind_correlation_id(correlation_id)
    owner = f"{ctx.get('job_id', 'job')}:{uuid.uuid4().hex[:8]}"
    try:
        await run_turns(ctx["deps"], inbound_id, owner=owner)
    except RetryLater as later:
        log.info(
            "turn.retry_later",
            inbound_id=inbound_id,
            defer=round(later.defer, 2),
            reason=later.reason,
            job_try=ctx.get("job_try"),
        )
        raise Retry(defer=later.defer) from later
