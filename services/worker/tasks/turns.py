"""Turn jobs: a thin boundary between arq and the turn service.

arq retries only what raises ``Retry``; any other exception fails the job for good. So the
boundary turns "try again later" signals and unreachable Postgres or Redis into ``Retry``; the
sweeper backs up whatever still slips through.
"""

from __future__ import annotations

import uuid
from typing import Any

from arq import Retry
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.core.logging import bind_correlation_id, get_logger
from services.core.turns.service import RetryLater, backoff
from services.core.turns.service import process_inbound as run_turns

log = get_logger(__name__)
_INFRASTRUCTURE = (OperationalError, InterfaceError, PoolTimeout, RedisError, OSError)


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
    except _INFRASTRUCTURE as exc:
        defer = backoff(int(ctx.get("job_try", 1)), base=1.0, cap=30.0)
        log.warning("turn.infrastructure_error", error=type(exc).__name__, defer=round(defer, 2))
        raise Retry(defer=defer) from exc
