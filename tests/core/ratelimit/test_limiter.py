"""The GCRA limiter against a real Redis: a burst, then the steady rate, exactly; several limits
charged all-or-nothing; idle keys vanish; Redis down means allowed (fail open)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio
import redis.asyncio as aioredis

from services.core.ratelimit.limiter import Limit, RateLimiter
from services.core.redis import create_redis
from tests.fixtures.servers import free_port

# 600 per minute = one every 100 ms; three at once.
FAST = Limit("rl:test:fast", 600, 3, "contact")


@pytest_asyncio.fixture(loop_scope="session")
async def limiter(redis_client: aioredis.Redis, redis_url: str) -> AsyncIterator[RateLimiter]:
    redis = create_redis(redis_url)
    try:
        yield RateLimiter(redis)
    finally:
        await redis.aclose()


async def test_a_burst_then_one_per_interval(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    burst = [await limiter.hit(FAST) for _ in range(3)]
    assert [d.allowed for d in burst] == [True, True, True]
    assert [d.remaining for d in burst] == [2, 1, 0]

    refused = await limiter.hit(FAST)
    assert not refused.allowed
    assert refused.dimension == "contact"
    assert 0 < refused.retry_after <= 0.1
    # A refusal costs nothing: asking again at once gets (at most) the same wait.
    again = await limiter.hit(FAST)
    assert not again.allowed
    assert again.retry_after <= refused.retry_after

    # Steady state: each wait of retry-after buys exactly one more, never two.
    for _ in range(3):
        await asyncio.sleep(refused.retry_after + 0.01)
        assert (await limiter.hit(FAST)).allowed
        refused = await limiter.hit(FAST)
        assert not refused.allowed
        assert 0.05 < refused.retry_after <= 0.1

    # The key expires once the bucket would be full again (at most burst x interval).
    ttl = await redis_client.pttl(FAST.key)
    assert 0 < ttl <= 3 * 100


async def test_idle_key_refills_the_whole_burst(limiter: RateLimiter) -> None:
    for _ in range(3):
        assert (await limiter.hit(FAST)).allowed
    assert not (await limiter.hit(FAST)).allowed
    await asyncio.sleep(0.31)
    assert [(await limiter.hit(FAST)).allowed for _ in range(4)] == [True, True, True, False]


async def test_several_limits_are_charged_all_or_nothing(
    limiter: RateLimiter, redis_client: aioredis.Redis
) -> None:
    contact = Limit("rl:{t1}:contact:1", 1, 1, "contact")  # one a minute
    tenant = Limit("rl:{t1}:tenant", 600, 5, "tenant")
    assert (await limiter.hit(contact, tenant)).allowed
    refused = await limiter.hit(contact, tenant)
    assert not refused.allowed
    assert refused.dimension == "contact"
    assert 59 < refused.retry_after <= 60
    # The refused call did not spend the tenant's budget: 4 of 5 are left.
    other = Limit("rl:{t1}:contact:2", 600, 10, "contact")
    results = [(await limiter.hit(other, tenant)) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, True, False]
    assert results[-1].dimension == "tenant"


async def test_redis_down_fails_open() -> None:
    redis = create_redis(f"redis://127.0.0.1:{free_port()}/0", fail_fast=True)
    try:
        decision = await RateLimiter(redis).hit(FAST)
    finally:
        await redis.aclose()
    assert decision.allowed
    assert decision.failed_open
