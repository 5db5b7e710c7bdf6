"""The GCRA limiter on a real Redis: a burst never exceeds its size, a refusal says how long to
wait, and after that wait the next request is allowed."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.ratelimit.limiter import Limit, RateLimiter
from services.core.redis import create_redis


@settings(max_examples=25)
@given(
    per_minute=st.integers(min_value=600, max_value=6000),
    burst=st.integers(min_value=1, max_value=8),
    attempts=st.integers(min_value=1, max_value=20),
)
async def test_a_burst_is_capped_and_the_wait_is_honest(
    redis_client: aioredis.Redis, redis_url: str, per_minute: int, burst: int, attempts: int
) -> None:
    redis = create_redis(redis_url)
    try:
        limiter = RateLimiter(redis)
        limit = Limit(f"fuzz:{uuid.uuid4().hex}", per_minute, burst, "contact")
        started = time.monotonic()
        decisions = [await limiter.hit(limit) for _ in range(attempts)]
        elapsed = time.monotonic() - started
        allowed = [d for d in decisions if d.allowed]
        # A burst of requests: at most `burst`, plus what the rate refilled while they were
        # made (on a busy machine they take longer than a few milliseconds), plus one interval.
        refilled = int(elapsed / (60 / per_minute))
        assert 1 <= len(allowed) <= burst + refilled + 1
        refused = [d for d in decisions if not d.allowed]
        for decision in refused:
            assert decision.retry_after is not None
            assert 0 < decision.retry_after <= 60 / per_minute * (burst + 1) + 0.01
        if refused:
            await asyncio.sleep(refused[-1].retry_after or 0)
            assert (await limiter.hit(limit)).allowed
    finally:
        await redis.aclose()
