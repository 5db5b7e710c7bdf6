"""Pre-authentication throttle per source IP, charged only by *failed* authentications.

Valid traffic costs nothing here: no Redis round trip on the success path. Every 401/404 of the
webhook charges the source IP's GCRA budget in Redis (shared by every api process); when the
budget is spent, this process remembers the IP as throttled until the limiter's retry-after, and
answers its requests 429 before any database or Redis access and before reading the body.

The one exception is what keeps "a valid Whaticket never gets a 429": a request from a throttled
IP whose path secret matches a tenant this process already holds in memory goes through (a
memory-only constant-time hash compare — the same check authentication makes). A helpdesk that
shares an egress IP with a scanner keeps delivering messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from services.core.logging import get_logger
from services.core.metrics import RATE_LIMITED

from .limiter import Limit, RateLimiter

log = get_logger(__name__)
MAX_TRACKED_IPS = 10_000


class FailedAuthGuard:
    def __init__(
        self,
        limiter: RateLimiter,
        *,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limiter = limiter
        self._per_minute = per_minute
        self._burst = burst
        self._clock = clock
        self._blocked: dict[str, float] = {}

    def throttled_for(self, ip: str) -> float | None:
        """Seconds this IP stays throttled, or None; memory only."""
        until = self._blocked.get(ip)
        if until is None:
            return None
        left = until - self._clock()
        if left <= 0:
            del self._blocked[ip]
            return None
        return left

    async def failed(self, ip: str) -> float | None:
        """Charge a failed authentication; the retry-after when it spent the IP's budget."""
        decision = await self._limiter.hit(
            Limit(f"rl:ip:{ip}", self._per_minute, self._burst, "ip")
        )
        if decision.allowed:
            return None
        self.throttle(ip, decision.retry_after)
        return decision.retry_after

    def throttle(self, ip: str, seconds: float) -> None:
        now = self._clock()
        if len(self._blocked) >= MAX_TRACKED_IPS:
            self._blocked = {k: v for k, v in self._blocked.items() if v > now}
            if len(self._blocked) >= MAX_TRACKED_IPS:  # a flood of sources: forget the oldest
                self._blocked.pop(next(iter(self._blocked)))
        self._blocked[ip] = now + seconds
        RATE_LIMITED.labels("-", "ip").inc()
        log.warning("webhook.ip_throttled", ip=ip, retry_after=round(seconds, 1))

    def refused(self) -> None:
        RATE_LIMITED.labels("-", "ip").inc()
