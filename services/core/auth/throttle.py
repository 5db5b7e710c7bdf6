"""Sign-in throttling: an attempt takes a slot before its password is looked at, atomically.

Each key (the e-mail, the source IP, or the e-mail on a browser that signed in before) counts
the attempts since its last success. The first few are free; after that each attempt opens
the next slot later (five seconds, doubling up to a cap: a minute for an e-mail). One Lua
script checks every key and counts the attempt in one step, so a hundred parallel guesses
get the slots the counters allow and no more; a refused attempt is not counted and its
password is never checked, so hammering a closed slot teaches an attacker nothing and costs nothing.

Nobody is locked out: the worst wait is the cap. A browser that signed in to an account before
carries a device token (:mod:`services.api.sign_in`) and is throttled on its own key instead of
the e-mail's, so a stranger guessing an admin's password does not keep the admin out.
A success clears its key. Redis down: no throttle (sign-in still works).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int  # attempts without any wait
    first_wait_seconds: int  # after the free ones; doubling with each further attempt
    cap_seconds: int  # the longest wait between two attempts
    forget_seconds: int  # idle this long, the count starts again


PER_EMAIL = Backoff(free=5, first_wait_seconds=5, cap_seconds=60, forget_seconds=15 * 60)
PER_DEVICE = Backoff(free=5, first_wait_seconds=5, cap_seconds=60, forget_seconds=15 * 60)
PER_IP = Backoff(free=20, first_wait_seconds=5, cap_seconds=300, forget_seconds=15 * 60)

# KEYS: the counters; ARGV: per key free, first_ms, cap_ms, forget_ms.
# Returns the wait in ms (0: go).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
  local next_at = tonumber(redis.call('HGET', key, 'next') or '0')
  if next_at - now > wait then wait = next_at - now end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[i * 4 - 3])
  local first = tonumber(ARGV[i * 4 - 2])
  local cap = tonumber(ARGV[i * 4 - 1])
  local n = redis.call('HINCRBY', key, 'n', 1)
  local delay = 0
  if n >= free then
    local step = n - free
    if step > 30 then delay = cap else delay = math.min(cap, first * 2 ^ step) end
  end
  redis.call('HSET', key, 'next', now + delay)
  redis.call('PEXPIRE', key, tonumber(ARGV[i * 4]))
end
return 0
"""
# KEYS[1]: the key the success clears; KEYS[2..]: keys that get the attempt back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  local n = redis.call('HINCRBY', KEYS[i], 'n', -1)
  if n < tonumber(ARGV[i - 1]) then redis.call('HSET', KEYS[i], 'next', 0) end
end
return 0
"""


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Attempt:
    """Who is trying: the e-mail typed, the source IP, and the device token if the browser
    holds a valid one for this e-mail (checked by the caller)."""

    email: str
    ip: str | None
    device: str | None = None

    def _own_key(self) -> tuple[str, Backoff]:
        if self.device:
            return f"login:device:{_digest(self.email)}:{_digest(self.device)}", PER_DEVICE
        return f"login:email:{_digest(self.email)}", PER_EMAIL

    def keys(self) -> list[tuple[str, Backoff]]:
        keys = [self._own_key()]
        if self.ip:
            keys.append((f"login:ip:{_digest(self.ip)}", PER_IP))
        return keys


class LoginThrottle:
    def __init__(self, redis: Redis) -> None:
        self._acquire = redis.register_script(_ACQUIRE)
        self._succeeded = redis.register_script(_SUCCEEDED)

    async def acquire(self, attempt: Attempt) -> float | None:
        """Count this attempt and let it go (None), or the seconds until it may be made."""
        keys = attempt.keys()
        args: list[int] = []
        for _, backoff in keys:
            args += [
                backoff.free,
                backoff.first_wait_seconds * 1000,
                backoff.cap_seconds * 1000,
                backoff.forget_seconds * 1000,
            ]
        try:
            wait_ms = int(await self._acquire(keys=[k for k, _ in keys], args=args))
        except (RedisError, OSError):
            return None
        return None if wait_ms <= 0 else math.ceil(wait_ms / 1000)

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: its own key starts again; the IP gets the attempt back."""
        keys = attempt.keys()
        frees = [backoff.free for _, backoff in keys[1:]]
        with contextlib.suppress(RedisError, OSError):
            await self._succeeded(keys=[k for k, _ in keys], args=frees)
