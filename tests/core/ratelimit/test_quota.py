"""The ingest quota against a real Redis: a tenant's messages within its burst are scheduled at
their debounce, the excess one interval apart; nothing is refused; tenants do not share slots;
Redis down schedules at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise

import pytest_asyncio
import redis.asyncio as aioredis
from arq.connections import ArqRedis

from services.core import jobs
from services.core.metrics import INGEST_DEFERRED
from services.core.ratelimit.quota import PacedJob, enqueue_paced, ingest_limit, reserve
from services.core.redis import create_redis
from tests.fixtures.servers import free_port


@dataclass(frozen=True)
class _Rates:
    per_tenant_per_minute: int


@dataclass(frozen=True)
class _Spec:
    rate_limits: _Rates


@dataclass(frozen=True)
class _Tenant:
    id: int
    slug: str
    spec: _Spec = field(default_factory=lambda: _Spec(_Rates(60)))  # 1 a second, 30 at once


@pytest_asyncio.fixture(loop_scope="session")
async def arq_redis(redis_client: aioredis.Redis, redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = create_redis(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def _scores(redis: aioredis.Redis) -> dict[int, float]:
    members = await redis.zrange(jobs.QUEUE, 0, -1, withscores=True)
    return {int(member.decode().split(":")[1]): score for member, score in members}


async def test_the_burst_runs_at_its_debounce_the_excess_one_interval_apart(
    arq_redis: ArqRedis, redis_client: aioredis.Redis
) -> None:
    flood, quiet = _Tenant(1, "flood"), _Tenant(2, "quiet")
    before = INGEST_DEFERRED.labels("flood")._value.get()
    items = [PacedJob(jobs.InboundJob(i, 0.5), flood) for i in range(1, 36)]
    items.append(PacedJob(jobs.InboundJob(100, 0.5), quiet))
    assert await enqueue_paced(arq_redis, items) == ["queued"] * 36

    scores = await _scores(redis_client)
    assert len(scores) == 36  # nothing refused, nothing dropped
    base = scores[1]
    # 30 at their debounce, then one a second: the 31st a second after the flood began.
    assert all(scores[i] == base for i in range(1, 31))
    excess = [scores[i] - base for i in range(31, 36)]
    assert 400 <= excess[0] <= 600  # its slot (1 s) is later than its debounce (0.5 s)
    assert all(900 <= b - a <= 1100 for a, b in pairwise(excess))
    # The other tenant's message is due with the flood's burst, before the flood's excess.
    assert scores[100] < scores[31]
    assert INGEST_DEFERRED.labels("flood")._value.get() - before >= 5


async def test_slots_are_charged_in_order_and_the_bucket_expires(
    arq_redis: ArqRedis, redis_client: aioredis.Redis
) -> None:
    limit = ingest_limit(7, 600)  # one every 100 ms, 300 at once
    waits = await reserve(arq_redis, [limit] * 302)
    assert waits[:300] == [0.0] * 300
    assert 0 < waits[300] < waits[301] <= 0.2
    ttl = await redis_client.pttl(limit.key)
    assert 0 < ttl <= 30_200


async def test_redis_down_schedules_at_once() -> None:
    redis = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert await reserve(redis, [ingest_limit(1, 60)]) == [0.0]
        outcome = await enqueue_paced(redis, [PacedJob(jobs.InboundJob(1), _Tenant(1, "t"))])
        assert outcome == ["failed"]  # left to the sweeper
    finally:
        await redis.aclose()
