"""Sign-in throttling: atomic slots with backoff, per e-mail, per IP and per known device."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from services.core.auth.throttle import PER_EMAIL, PER_IP, Attempt, LoginThrottle


async def test_parallel_attempts_get_only_the_free_slots(redis_client: aioredis.Redis) -> None:
    """Checking before counting let every parallel guess through; a slot is taken atomically."""
    throttle = LoginThrottle(redis_client)
    waits = await asyncio.gather(
        *(throttle.acquire(Attempt("maria@x.test", f"10.0.1.{i}")) for i in range(100))
    )
    assert sum(wait is None for wait in waits) == PER_EMAIL.free
    assert all(wait is not None and 0 < wait <= PER_EMAIL.cap_seconds for wait in waits[5:])


async def test_the_wait_doubles_up_to_a_cap_and_a_success_clears_it(
    redis_client: aioredis.Redis,
) -> None:
    throttle = LoginThrottle(redis_client)
    attempt = Attempt("Maria@X.test", None)
    for _ in range(PER_EMAIL.free):
        assert await throttle.acquire(attempt) is None
    first = await throttle.acquire(Attempt("maria@x.test", "10.0.0.3"))
    assert first == PER_EMAIL.first_wait_seconds  # the same e-mail, whatever its case or source
    assert await throttle.acquire(Attempt("other@x.test", "10.0.0.3")) is None
    # Forty more slots, as if each wait had passed: the wait stops at the cap.
    key = attempt.keys()[0][0]
    for _ in range(40):
        await redis_client.hset(key, "next", "0")  # type: ignore[misc]
        assert await throttle.acquire(attempt) is None
    assert await throttle.acquire(attempt) == PER_EMAIL.cap_seconds
    await throttle.succeeded(attempt)
    assert await throttle.acquire(attempt) is None


async def test_a_known_device_is_not_kept_out_by_guesses_at_its_email(
    redis_client: aioredis.Redis,
) -> None:
    throttle = LoginThrottle(redis_client)
    for i in range(PER_EMAIL.free + 3):
        await throttle.acquire(Attempt("admin@x.test", f"203.0.113.{i}"))
    assert await throttle.acquire(Attempt("admin@x.test", "198.51.100.7")) is not None
    assert await throttle.acquire(Attempt("admin@x.test", "198.51.100.7", "device-1")) is None


async def test_one_ip_guessing_many_emails_is_slowed(redis_client: aioredis.Redis) -> None:
    throttle = LoginThrottle(redis_client)
    waits = [
        await throttle.acquire(Attempt(f"user{i}@x.test", "10.9.9.9"))
        for i in range(PER_IP.free + 1)
    ]
    assert waits[: PER_IP.free] == [None] * PER_IP.free
    assert waits[-1] is not None
