"""How long the oldest due job has waited: the queue-stale alert's input."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from services.core import jobs
from services.core.redis import create_redis


async def test_the_oldest_ready_job_age(redis_client: aioredis.Redis, redis_url: str) -> None:
    redis = create_redis(redis_url)
    try:
        assert await jobs.oldest_ready_age(redis) == 0.0
        now_ms = int(time.time() * 1000)
        await redis_client.zadd(jobs.QUEUE, {"in:1": now_ms - 90_000, "in:2": now_ms - 5_000})
        await redis_client.zadd(jobs.QUEUE, {"in:3": now_ms + 60_000})  # deferred: not due
        age = await jobs.oldest_ready_age(redis)
        assert 89 < age < 100
        assert await jobs.ready_backlog(redis) == 2
    finally:
        await redis.aclose()
