"""The job boundary's retry rule, shared by every task.

arq retries only what raises ``Retry``; any other exception fails the job for good. So the
boundary turns "try again later" signals and unreachable Postgres or Redis into ``Retry``; the
sweeper and the handoff watcher back up whatever still slips through.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from arq import Retry
from redis.exceptions import RedisError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.core.logging import get_logger
from services.core.retry import RetryLater, backoff
from services.worker.context import typed

log = get_logger(__name__)
_INFRASTRUCTURE = (OperationalError, InterfaceError, PoolTimeout, RedisError, OSError)


@asynccontextmanager
async def retried(ctx: dict[str, Any], job: str, **fields: Any) -> AsyncIterator[None]:
    try:
        yield
    except RetryLater as later:
        log.info(
            f"{job}.retry_later",
            defer=round(later.defer, 2),
            reason=later.reason,
            job_try=typed(ctx).get("job_try"),
            **fields,
        )
        raise Retry(defer=later.defer) from later
    except _INFRASTRUCTURE as exc:
        defer = backoff(typed(ctx).get("job_try", 1), base=1.0, cap=30.0)
        log.warning(f"{job}.infrastructure_error", error=type(exc).__name__, defer=round(defer, 2))
        raise Retry(defer=defer) from exc
