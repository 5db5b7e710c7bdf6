"""The contract between the api and the worker: job names, ids and how they are enqueued.

Postgres is the outbox: an enqueue is only a fast path, so a failed enqueue is logged and left to
the sweeper. Job ids are deterministic per message, which makes a repeated enqueue a no-op while
the job is queued; replays and sweeps add a suffix so they are never swallowed by arq's dedupe.
"""

from __future__ import annotations

from typing import Literal

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.core.logging import get_logger

PROCESS_INBOUND = "process_inbound"
QUEUE = "arq:queue"

log = get_logger(__name__)


def inbound_job_id(inbound_id: int, suffix: str | None = None) -> str:
    return f"in:{inbound_id}" if suffix is None else f"in:{inbound_id}:{suffix}"


async def enqueue_inbound(
    redis: ArqRedis,
    inbound_id: int,
    *,
    defer_seconds: float = 0.0,
    suffix: str | None = None,
    correlation_id: str | None = None,
) -> Literal["queued", "already_queued", "failed"]:
    """Schedule the turn work for a stored message; "failed" leaves it to the sweeper."""
    try:
        job = await redis.enqueue_job(
            PROCESS_INBOUND,
            inbound_id,
            correlation_id,
            _job_id=inbound_job_id(inbound_id, suffix),
            _defer_by=defer_seconds or None,
        )
    except (RedisError, OSError) as exc:
        log.warning("enqueue.failed", inbound_id=inbound_id, error=type(exc).__name__)
        return "failed"
    return "queued" if job is not None else "already_queued"


async def ready_backlog(redis: ArqRedis) -> int:
    """Jobs due now and not yet picked up: what KEDA and /readyz look at."""
    now_ms = await redis.time()
    score = now_ms[0] * 1000 + now_ms[1] // 1000
    count: int = await redis.zcount(QUEUE, "-inf", score)
    return count
