"""A circuit breaker per dependency, shared by every process through Redis.

Shared rather than per process so the fleet trips after ``failure_threshold`` failures in total
and sends one probe, not one per process (reliability.md §4.2). All state lives in three keys
with TTLs, changed only by Lua scripts, so concurrent callers never see half an update:

* ``breaker:{name}:fails``   ZSET of failure times (ms) within the window (closed state)
* ``breaker:{name}:open``    exists while calls must fail fast; its PTTL is the time left
* ``breaker:{name}:tripped`` the current open duration; outlives ``open``: that gap is half-open
* ``breaker:{name}:probe``   the single half-open probe token (SET NX PX)

The breaker is a safety net, not a dependency: when Redis is unreachable it lets calls through.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.core.logging import get_logger

log = get_logger(__name__)

State = Literal["closed", "open", "half_open"]
# For a gauge: higher is worse.
STATE_VALUES: Final[dict[str, int]] = {"closed": 0, "half_open": 1, "open": 2}

_ALLOW = """
local open_ms = redis.call('PTTL', KEYS[1])
if open_ms ~= -2 then
  if open_ms < 1 then open_ms = 1 end
  return {0, open_ms, 2}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[1]) then
    return {1, 0, 1}
  end
  local left = redis.call('PTTL', KEYS[3])
  local wait = tonumber(ARGV[3])
  if left > 0 and left < wait then wait = left end
  return {0, wait, 1}
end
return {1, 0, 0}
"""

_FAILURE = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
local idle = tonumber(ARGV[6])
local tripped = redis.call('GET', KEYS[3])
if tripped then
  local dur = math.min(tonumber(tripped) * 2, tonumber(ARGV[5]))
  redis.call('SET', KEYS[2], '1', 'PX', dur)
  redis.call('SET', KEYS[3], dur, 'PX', dur + idle)
  redis.call('DEL', KEYS[4])
  return 2
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local dur = tonumber(ARGV[4])
  redis.call('SET', KEYS[2], '1', 'PX', dur)
  redis.call('SET', KEYS[3], dur, 'PX', dur + idle)
  redis.call('DEL', KEYS[1], KEYS[4])
  return 1
end
return 0
"""

_SUCCESS = """
if redis.call('EXISTS', KEYS[3]) == 1 and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
  return 1
end
return 0
"""

_STATE = """
return {redis.call('EXISTS', KEYS[1]), redis.call('EXISTS', KEYS[2])}
"""


@dataclass(frozen=True, slots=True)
class Decision:
    """``retry_after`` (seconds) is set when refused; ``probe`` means: report the outcome."""

    allowed: bool
    retry_after: float = 0.0
    probe: bool = False
    state: State = "closed"


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class CircuitBreaker:
    """Closed → open after ``failure_threshold`` reported failures in ``window_seconds``.

    Open lasts ``open_seconds`` (doubling on each failed probe up to ``max_open_seconds``), then
    half-open lets exactly one caller fleet-wide probe. A probe holder that never reports loses
    the token after ``probe_timeout_seconds`` (set it above the call's own timeout). With no
    traffic at all, a tripped breaker forgets itself ``idle_reset_seconds`` after opening.
    """

    def __init__(
        self,
        redis: Redis,
        name: str,
        *,
        failure_threshold: int = 5,
        window_seconds: float = 30.0,
        open_seconds: float = 20.0,
        max_open_seconds: float | None = None,
        probe_timeout_seconds: float = 60.0,
        idle_reset_seconds: float = 600.0,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        self.name = name
        self._redis = redis
        self._threshold = failure_threshold
        self._window_ms = _ms(window_seconds)
        self._open_ms = _ms(open_seconds)
        self._max_open_ms = max(self._open_ms, _ms(max_open_seconds or open_seconds))
        self._probe_ms = _ms(probe_timeout_seconds)
        self._idle_ms = _ms(idle_reset_seconds)
        prefix = f"breaker:{{{name}}}"  # one hash slot per breaker, for Redis Cluster
        self._fails, self._open = f"{prefix}:fails", f"{prefix}:open"
        self._tripped, self._probe = f"{prefix}:tripped", f"{prefix}:probe"
        self._allow = redis.register_script(_ALLOW)
        self._failure = redis.register_script(_FAILURE)
        self._success = redis.register_script(_SUCCESS)
        self._state = redis.register_script(_STATE)
        self._store_down = False
        # This process saw the breaker tripped (or reported a failure) since it last saw it
        # closed: only then can a success change anything, so only then is it reported.
        self._trouble = False

    async def allow(self) -> Decision:
        try:
            allowed, wait_ms, phase = await self._allow(
                keys=[self._open, self._tripped, self._probe],
                args=[self._probe_ms, uuid.uuid4().hex, self._open_ms],
            )
        except (RedisError, OSError) as exc:
            self._note_store_down(exc)
            return Decision(allowed=True)
        self._note_store_up()
        state: State = ("closed", "half_open", "open")[int(phase)]
        self._trouble = state != "closed"
        if int(allowed):
            return Decision(allowed=True, probe=state == "half_open", state=state)
        return Decision(allowed=False, retry_after=int(wait_ms) / 1000, state=state)

    async def record_success(self) -> None:
        """Closes a half-open breaker; in the closed state a success changes nothing, so it is
        not sent to Redis unless this process saw the breaker tripped since it was closed
        (a half-open breaker answers ``allow`` with its state, never "closed")."""
        if not self._trouble:
            return
        if await self._run(self._success, [self._fails, self._open, self._tripped, self._probe]):
            log.info("breaker_closed", breaker=self.name)

    async def record_failure(self) -> None:
        """Report dependency failures only (timeout, 5xx, 429), never a caller's own 4xx.

        While open, late failures (calls begun before it opened) are ignored; while half-open,
        any failure re-opens, since it shows the dependency still failing.
        """
        self._trouble = True
        outcome = await self._run(
            self._failure,
            [self._fails, self._open, self._tripped, self._probe],
            self._window_ms,
            self._threshold,
            uuid.uuid4().hex,
            self._open_ms,
            self._max_open_ms,
            self._idle_ms,
        )
        if outcome == 1:
            log.warning("breaker_opened", breaker=self.name, threshold=self._threshold)
        elif outcome == 2:
            log.warning("breaker_reopened", breaker=self.name)

    async def state(self) -> State:
        result = await self._run(self._state, [self._open, self._tripped])
        if not result:
            return "closed"
        is_open, tripped = (int(x) for x in result)
        if is_open:
            return "open"
        return "half_open" if tripped else "closed"

    async def state_value(self) -> int:
        """0 closed, 1 half-open, 2 open: a Prometheus gauge value."""
        return STATE_VALUES[await self.state()]

    async def reset(self) -> None:
        """Forget everything (an operator override, and test setup)."""
        try:
            await self._redis.delete(self._fails, self._open, self._tripped, self._probe)
        except (RedisError, OSError) as exc:
            self._note_store_down(exc)

    async def _run(self, script: Any, keys: list[str], *args: object) -> Any:
        try:
            result = await script(keys=keys, args=list(args))
        except (RedisError, OSError) as exc:
            self._note_store_down(exc)
            return None
        self._note_store_up()
        return result

    def _note_store_down(self, exc: BaseException) -> None:
        """Log the outage once, not once per call."""
        if not self._store_down:
            self._store_down = True
            log.warning("breaker_store_unavailable", breaker=self.name, error=type(exc).__name__)

    def _note_store_up(self) -> None:
        if self._store_down:
            self._store_down = False
            log.info("breaker_store_recovered", breaker=self.name)
