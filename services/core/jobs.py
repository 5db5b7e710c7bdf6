"""The contract between the api and the worker: job names, ids and how they are enqueued.

Postgres is the outbox: an enqueue is only a fast path, so a failed enqueue is logged and left to
the sweeper. Job ids are deterministic per message, which makes a repeated enqueue a no-op while
the job is queued; replays and sweeps add a suffix so they are never swallowed by arq's dedupe.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from arq.jobs import serialize_job
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


@dataclass(frozen=True, slots=True)
class InboundJob:
    inbound_id: int
    defer_seconds: float = 0.0
    correlation_id: str | None = None


async def enqueue_inbound_many(
    redis: ArqRedis, items: Sequence[InboundJob]
) -> list[Literal["queued", "already_queued", "failed"]]:
    """Many first enqueues in one round trip, in arq's own job format.

    ``SET NX`` + ``ZADD NX`` per job keeps arq's rule that an existing job id is left alone; it
    skips arq's WATCH transaction, which costs three round trips per job.
    """
    now_ms = int(time.time() * 1000)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for item in items:
                job_id = inbound_job_id(item.inbound_id)
                defer_ms = int(item.defer_seconds * 1000)
                data = serialize_job(
                    PROCESS_INBOUND,
                    (item.inbound_id, item.correlation_id),
                    {},
                    None,
                    now_ms,
                    serializer=redis.job_serializer,
                )
                expires_ms = defer_ms + redis.expires_extra_ms
                pipe.set(job_key_prefix + job_id, data, px=expires_ms, nx=True)
                pipe.zadd(QUEUE, {job_id: now_ms + defer_ms}, nx=True)
            replies = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("enqueue.failed", jobs=len(items), error=type(exc).__name__)
        return ["failed"] * len(items)
    return ["queued" if created else "already_queued" for created in replies[::2]]


async def deferred(redis: ArqRedis, inbound_ids: Sequence[int]) -> set[int]:
    """The messages whose first job waits in the queue for a later time (the ingest quota's
    slot, a rate limit's retry): arq will run it then, so the sweeper leaves it alone. A job
    that is due, running or abandoned by a dead worker is not counted."""
    if not inbound_ids:
        return set()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.time()
            for inbound_id in inbound_ids:
                pipe.zscore(QUEUE, inbound_job_id(inbound_id))
            (now_s, now_us), *scores = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("enqueue.queue_unreadable", error=type(exc).__name__)
        return set()
    now_ms = now_s * 1000 + now_us // 1000
    return {
        i
        for i, score in zip(inbound_ids, scores, strict=True)
        if score is not None and score > now_ms
    }


async def ready_backlog(redis: ArqRedis) -> int:
    """Jobs due now and not yet picked up: what KEDA and /readyz look at."""
    now_ms = await redis.time()
    score = now_ms[0] * 1000 + now_ms[1] // 1000
    count: int = await redis.zcount(QUEUE, "-inf", score)
    return count


async def oldest_ready_age(redis: ArqRedis) -> float:
    """Seconds the oldest job due now has been due (0 with none): a queue nobody drains shows
    here before customers complain."""
    now_s, now_us = await redis.time()
    now_ms = now_s * 1000 + now_us // 1000
    oldest = await redis.zrangebyscore(QUEUE, "-inf", now_ms, start=0, num=1, withscores=True)
    return max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0


TRANSFER_HANDOFF = "transfer_handoff"


async def enqueue_handoff(redis: ArqRedis, handoff_id: int, *, suffix: str | None = None) -> bool:
    """Schedule the ticket transfer of a committed handoff; False leaves it to the watcher."""
    job_id = f"handoff:{handoff_id}" if suffix is None else f"handoff:{handoff_id}:{suffix}"
    try:
        await redis.enqueue_job(TRANSFER_HANDOFF, handoff_id, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning("enqueue.handoff_failed", handoff_id=handoff_id, error=type(exc).__name__)
        return False
    return True


POST_HANDOFF_NOTE = "post_handoff_note"


async def enqueue_handoff_note(
    redis: ArqRedis, handoff_id: int, *, suffix: str | None = None
) -> bool:
    """Schedule the agent's note of a handoff whose transfer is done; False leaves it to the
    watcher."""
    job_id = f"handoff-note:{handoff_id}" + (f":{suffix}" if suffix else "")
    try:
        await redis.enqueue_job(POST_HANDOFF_NOTE, handoff_id, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning("enqueue.handoff_note_failed", handoff_id=handoff_id, error=type(exc).__name__)
        return False
    return True


DELIVER_EVENT = "deliver_event"


async def enqueue_event(redis: ArqRedis, delivery_id: int) -> bool:
    """Schedule a due workflow event; the id dedupes against a job already queued or running
    for it (the delivery's claim in Postgres covers the rest)."""
    try:
        await redis.enqueue_job(DELIVER_EVENT, delivery_id, _job_id=f"event:{delivery_id}")
    except (RedisError, OSError) as exc:
        log.warning("enqueue.event_failed", delivery_id=delivery_id, error=type(exc).__name__)
        return False
    return True


SEND_WORKFLOW_MESSAGE = "send_workflow_message"


async def enqueue_workflow_message(
    redis: ArqRedis, message_id: int, *, suffix: str | None = None
) -> bool:
    """Schedule the send of a committed workflow message; False leaves it to the sweeper."""
    job_id = f"wmsg:{message_id}" if suffix is None else f"wmsg:{message_id}:{suffix}"
    try:
        await redis.enqueue_job(SEND_WORKFLOW_MESSAGE, message_id, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning(
            "enqueue.workflow_message_failed", message_id=message_id, error=type(exc).__name__
        )
        return False
    return True


CLOSE_TICKET = "close_ticket"


async def enqueue_ticket_close(redis: ArqRedis, conversation_id: int) -> bool:
    """Schedule closing the conversation's Whaticket ticket; False when Redis is unreachable
    (the caller is told to repeat the close, which is harmless)."""
    try:
        await redis.enqueue_job(CLOSE_TICKET, conversation_id, _job_id=f"close:{conversation_id}")
    except (RedisError, OSError) as exc:
        log.warning("enqueue.ticket_close_failed", error=type(exc).__name__)
        return False
    return True


EMBED_KNOWLEDGE = "embed_knowledge"


async def enqueue_embedding(redis: ArqRedis, tenant_id: int, knowledge_version: str) -> bool:
    """Schedule embedding a tenant's changed knowledge; the id dedupes per knowledge version
    (the job embeds whatever lacks a vector then, so one per version is enough). False leaves
    it to the sweeper or the next apply."""
    job_id = f"embed:{tenant_id}:{knowledge_version[:16]}"
    try:
        await redis.enqueue_job(EMBED_KNOWLEDGE, tenant_id, _job_id=job_id)
    except (RedisError, OSError) as exc:
        log.warning("enqueue.embedding_failed", tenant_id=tenant_id, error=type(exc).__name__)
        return False
    return True
