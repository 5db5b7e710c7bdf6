"""Sign-in throttling: failures counted per e-mail and per source IP in Redis, for 15 minutes.

Only failures count, so a user who types the right password is never slowed down by traffic
from others; a success clears the e-mail's count.
"""

from __future__ import annotations

import contextlib
import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

WINDOW_SECONDS = 15 * 60
MAX_PER_EMAIL = 5
MAX_PER_IP = 20


def _keys(email: str, ip: str | None) -> list[tuple[str, int]]:
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]
    keys = [(f"login:fail:email:{digest}", MAX_PER_EMAIL)]
    if ip:
        keys.append((f"login:fail:ip:{ip}", MAX_PER_IP))
    return keys


class LoginThrottle:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def check(self, email: str, ip: str | None) -> float | None:
        """Seconds to wait before trying again, or None. Redis down: no throttle."""
        try:
            for key, limit in _keys(email, ip):
                count = int(await self._redis.get(key) or 0)
                if count >= limit:
                    return float(max(1, await self._redis.ttl(key)))
        except (RedisError, OSError):
            return None
        return None

    async def failed(self, email: str, ip: str | None) -> None:
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.pipeline(transaction=True) as pipe:
                for key, _ in _keys(email, ip):
                    pipe.incr(key)
                    pipe.expire(key, WINDOW_SECONDS, nx=True)
                await pipe.execute()

    async def succeeded(self, email: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(_keys(email, None)[0][0])
