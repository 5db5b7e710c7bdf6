"""The Redis-shared circuit breaker against a real Redis (``redis_client`` is flushed per test)."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis

from services.cli.embedded import free_port
from services.core.breaker import CircuitBreaker

OPEN = 0.3


def _breaker(redis: Redis, name: str = "gemini", **kwargs: float) -> CircuitBreaker:
    options: dict[str, float] = {
        "failure_threshold": 3,
        "window_seconds": 5.0,
        "open_seconds": OPEN,
        "probe_timeout_seconds": 2.0,
    }
    options.update(kwargs)
    return CircuitBreaker(
        redis,
        name,
        failure_threshold=int(options.pop("failure_threshold")),
        **options,
    )


async def _trip(breaker: CircuitBreaker, times: int = 3) -> None:
    for _ in range(times):
        await breaker.record_failure()


async def test_opens_after_threshold(redis_client: Redis) -> None:
    breaker = _breaker(redis_client)
    await _trip(breaker, 2)
    assert await breaker.state() == "closed"
    assert (await breaker.allow()).allowed

    await breaker.record_failure()

    assert await breaker.state() == "open"
    decision = await breaker.allow()
    assert not decision.allowed
    assert 0 < decision.retry_after <= OPEN
    assert await breaker.state_value() == 2


async def test_failures_outside_the_window_do_not_count(redis_client: Redis) -> None:
    breaker = _breaker(redis_client, window_seconds=0.2)
    await _trip(breaker, 2)
    await asyncio.sleep(0.3)
    await breaker.record_failure()
    assert await breaker.state() == "closed"


async def test_breakers_are_independent_per_name(redis_client: Redis) -> None:
    await _trip(_breaker(redis_client, "whaticket:acme:main"))
    assert (await _breaker(redis_client, "whaticket:acme:other").allow()).allowed
    assert not (await _breaker(redis_client, "whaticket:acme:main").allow()).allowed


async def test_fails_fast_while_open(redis_client: Redis) -> None:
    breaker = _breaker(redis_client, open_seconds=5.0)
    await _trip(breaker)
    started = time.monotonic()
    decisions = [await breaker.allow() for _ in range(20)]
    assert time.monotonic() - started < 0.5
    assert not any(d.allowed for d in decisions)
    assert all(4.0 < d.retry_after <= 5.0 for d in decisions)


async def test_every_key_has_a_ttl(redis_client: Redis) -> None:
    breaker = _breaker(redis_client)
    await breaker.record_failure()
    await _trip(breaker)
    await breaker.allow()
    keys = await redis_client.keys("breaker:*")
    assert keys
    for key in keys:
        assert await redis_client.pttl(key) > 0, key


async def test_one_probe_across_concurrent_callers(redis_client: Redis) -> None:
    # Two "processes": separate breaker objects on separate connections.
    other = Redis(connection_pool=redis_client.connection_pool)
    first, second = _breaker(redis_client), _breaker(other)
    await _trip(first)
    await asyncio.sleep(OPEN + 0.05)
    assert await first.state() == "half_open"

    decisions = await asyncio.gather(*(b.allow() for b in (first, second) * 5))

    probes = [d for d in decisions if d.allowed]
    assert len(probes) == 1
    assert probes[0].probe
    assert all(d.state == "half_open" and d.retry_after > 0 for d in decisions if not d.allowed)


async def test_probe_success_closes(redis_client: Redis) -> None:
    breaker = _breaker(redis_client)
    await _trip(breaker)
    await asyncio.sleep(OPEN + 0.05)
    assert (await breaker.allow()).probe

    await breaker.record_success()

    assert await breaker.state() == "closed"
    decisions = [await breaker.allow() for _ in range(3)]
    assert all(d.allowed and not d.probe for d in decisions)
    # The failure count restarted: it takes a full threshold again to trip.
    await _trip(breaker, 2)
    assert await breaker.state() == "closed"


async def test_probe_failure_reopens(redis_client: Redis) -> None:
    breaker = _breaker(redis_client)
    await _trip(breaker)
    await asyncio.sleep(OPEN + 0.05)
    assert (await breaker.allow()).probe

    await breaker.record_failure()

    assert await breaker.state() == "open"
    assert not (await breaker.allow()).allowed
    await asyncio.sleep(OPEN + 0.05)
    assert (await breaker.allow()).probe  # a new half-open period, with a fresh probe


async def test_open_time_grows_on_failed_probes_up_to_the_cap(redis_client: Redis) -> None:
    breaker = _breaker(redis_client, open_seconds=0.2, max_open_seconds=0.5)
    await _trip(breaker)
    await asyncio.sleep(0.25)
    assert (await breaker.allow()).probe
    await breaker.record_failure()
    assert 0.3 < (await breaker.allow()).retry_after <= 0.4
    await asyncio.sleep(0.45)
    assert (await breaker.allow()).probe
    await breaker.record_failure()
    assert 0.4 < (await breaker.allow()).retry_after <= 0.5


async def test_abandoned_probe_is_handed_to_another_caller(redis_client: Redis) -> None:
    breaker = _breaker(redis_client, probe_timeout_seconds=0.2)
    await _trip(breaker)
    await asyncio.sleep(OPEN + 0.05)
    assert (await breaker.allow()).probe  # this holder never reports
    assert not (await breaker.allow()).allowed
    await asyncio.sleep(0.25)
    assert (await breaker.allow()).probe


async def test_redis_unreachable_fails_open() -> None:
    dead = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.2)
    breaker = _breaker(dead)
    try:
        started = time.monotonic()
        for _ in range(5):
            await breaker.record_failure()
        decision = await breaker.allow()
        await breaker.record_success()
        state = await breaker.state()
        await breaker.reset()
    finally:
        await dead.aclose()
    assert decision.allowed
    assert not decision.probe
    assert state == "closed"
    assert time.monotonic() - started < 2.0
