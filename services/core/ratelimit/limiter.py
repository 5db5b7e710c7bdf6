"""Rate limits as GCRA in Redis: one atomic Lua script, one timestamp per key.

GCRA (the generic cell rate algorithm) keeps, per key, the "theoretical arrival time" (TAT) of the
next request. A request is allowed when it would not push the TAT further than ``burst``
intervals into the future; the answer gives the exact wait (``retry_after``) when it is not.
Keys expire by themselves once idle (their TTL is the time the TAT lies ahead).

One script call checks every limit of a decision (e.g. the contact and its tenant) and charges
them only if all allow it, so a refused request never consumes another dimension's budget. The
server's clock (``TIME``) is the only clock: no skew between processes.

Redis unreachable: the limiter *fails open* (allows, and says so) — rate limits protect cost and
abuse, and must never stop the product from answering customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.core.logging import get_logger

log = get_logger(__name__)

# KEYS[i]: bucket i. ARGV[1]: cost; ARGV[2i]: emission interval ms of bucket i; ARGV[2i+1]: burst.
# Returns {allowed, retry_after_ms, limiting key index (1-based, 0 if allowed), remaining}.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[1])
local new_tats = {}
local worst, worst_i, remaining = 0, 0, -1
for i = 1, #KEYS do
  local T = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + T * cost
  local allow_at = new_tat - T * burst
  if now < allow_at then
    if worst_i == 0 or allow_at - now > worst then
      worst, worst_i = allow_at - now, i
    end
  else
    new_tats[i] = new_tat
    local left = math.floor((now - allow_at) / T)
    if remaining < 0 or left < remaining then remaining = left end
  end
end
if worst_i > 0 then return {0, worst, worst_i, 0} end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], new_tats[i], 'PX', new_tats[i] - now)
end
return {1, 0, 0, remaining}
"""


@dataclass(frozen=True, slots=True)
class Limit:
    """``per_minute`` requests per minute on ``key``, of which up to ``burst`` at once."""

    key: str
    per_minute: float
    burst: int
    dimension: str  # a bounded metric label: contact, tenant, ip

    @property
    def interval_ms(self) -> int:
        return max(1, round(60_000 / self.per_minute))


def default_burst(per_minute: int) -> int:
    """Half a minute's allowance may come at once; the rest at the steady pace."""
    return max(1, per_minute // 2)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float = 0.0  # seconds until the request would be allowed
    dimension: str | None = None  # which limit refused it
    remaining: int = 0
    failed_open: bool = False  # Redis did not answer: allowed without counting


class RateLimiter:
    def __init__(self, redis: ArqRedis) -> None:
        self._script = redis.register_script(GCRA_LUA)

    async def hit(self, *limits: Limit, cost: int = 1) -> Decision:
        """Charge ``cost`` to every limit if all of them allow it; otherwise charge nothing."""
        if not limits:
            return Decision(True)
        args: list[int] = [cost]
        for limit in limits:
            args += [limit.interval_ms, limit.burst]
        try:
            allowed, retry_ms, index, remaining = await self._script(
                keys=[limit.key for limit in limits], args=args
            )
        except (RedisError, OSError) as exc:
            log.warning("ratelimit.failed_open", error=type(exc).__name__)
            return Decision(True, failed_open=True)
        if allowed:
            return Decision(True, remaining=int(remaining))
        return Decision(
            False,
            retry_after=math.ceil(int(retry_ms)) / 1000,
            dimension=limits[int(index) - 1].dimension,
        )
