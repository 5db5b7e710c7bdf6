"""The ingest quota: a flood of one tenant waits in the queue, not in front of other tenants.

Every new message takes the next slot of its tenant's ingest bucket (GCRA at
``spec.rateLimits.perTenantPerMinute``, half a minute's allowance at once) and its turn job is
scheduled no earlier than that slot. Unlike :class:`~.limiter.RateLimiter`, nothing is ever
refused: the message is already stored, and the answer is *when* it may start. Within the
quota that is at once (after the debounce); past it the jobs get future scores in arq's sorted
set, one interval apart, so workers pick up other tenants' jobs first and the flood drains at
the tenant's own rate instead of every job taking a worker slot only to be deferred again.

Redis failing here schedules at once (fail open): the enqueue that follows reports its own
failure, and the sweeper catches what was not queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.core import jobs
from services.core.logging import get_logger
from services.core.metrics import INGEST_DEFERRED

from .limiter import Limit, default_burst

log = get_logger(__name__)

# KEYS[1]: the bucket. ARGV[1]: emission interval ms; ARGV[2]: burst; ARGV[3]: slots.
# Charges the slots one after the other (as as many single charges would) and returns the ms
# until each starts (0: within the burst): one call for all of a batch's messages of a tenant.
RESERVE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local waits = {}
for i = 1, tonumber(ARGV[3]) do
  if tat < now then tat = now end
  tat = tat + T
  local starts = tat - T * burst
  if starts > now then waits[i] = starts - now else waits[i] = 0 end
end
redis.call('SET', KEYS[1], tat, 'PX', tat - now)
return waits"""


def ingest_limit(tenant_id: int, per_minute: int) -> Limit:
    """The tenant's ingest bucket; its hash tag is the one of the turn limits."""
    return Limit(f"rl:{{t{tenant_id}}}:ingest", per_minute, default_burst(per_minute), "ingest")


class _Rates(Protocol):
    @property
    def per_tenant_per_minute(self) -> int: ...


class _Spec(Protocol):
    @property
    def rate_limits(self) -> _Rates: ...


class Tenant(Protocol):
    """What the quota reads of a tenant: its id (the bucket), slug (the metric label) and
    ``spec.rateLimits``."""

    @property
    def id(self) -> int: ...
    @property
    def slug(self) -> str: ...
    @property
    def spec(self) -> _Spec: ...


@dataclass(frozen=True, slots=True)
class PacedJob:
    """A first enqueue of a stored message, charged to its tenant's ingest quota."""

    job: jobs.InboundJob
    tenant: Tenant


def _limit(tenant: Tenant) -> Limit:
    return ingest_limit(tenant.id, tenant.spec.rate_limits.per_tenant_per_minute)


async def reserve(redis: ArqRedis, limits: Sequence[Limit]) -> list[float]:
    """One slot of each bucket (a bucket may repeat, its slots taken in order): seconds until
    each slot starts. One script call per bucket."""
    places: dict[str, list[int]] = {}
    by_key: dict[str, Limit] = {}
    for index, limit in enumerate(limits):
        places.setdefault(limit.key, []).append(index)
        by_key.setdefault(limit.key, limit)
    script = redis.register_script(RESERVE_LUA)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for key, indexes in places.items():
                limit = by_key[key]
                await script(
                    keys=[key], args=[limit.interval_ms, limit.burst, len(indexes)], client=pipe
                )
            charged = await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("ingest_quota.failed_open", error=type(exc).__name__)
        return [0.0] * len(limits)
    waits = [0.0] * len(limits)
    for indexes, slots in zip(places.values(), charged, strict=True):
        for index, ms in zip(indexes, slots, strict=True):
            waits[index] = int(ms) / 1000
    return waits


async def enqueue_paced(
    redis: ArqRedis, items: Sequence[PacedJob]
) -> list[Literal["queued", "already_queued", "failed"]]:
    """Enqueue each message's job at its debounce or its ingest slot, whichever is later."""
    waits = await reserve(redis, [_limit(item.tenant) for item in items])
    paced: list[jobs.InboundJob] = []
    for item, wait in zip(items, waits, strict=True):
        if wait > item.job.defer_seconds:
            INGEST_DEFERRED.labels(item.tenant.slug).inc()
            paced.append(replace(item.job, defer_seconds=wait))
        else:
            paced.append(item.job)
    return await jobs.enqueue_inbound_many(redis, paced)
