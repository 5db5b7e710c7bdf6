"""Redis connections that survive restarts and never hang forever on a partition."""

from __future__ import annotations

from typing import Any

import msgpack
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = 5
    settings.retry = Retry(ExponentialBackoff(cap=2, base=0.1), 20)
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
    return settings


def serialize_job(job: dict[str, Any]) -> bytes:
    """msgpack, not arq's default pickle: whoever can write to Redis must not run code."""
    data: bytes = msgpack.packb(job, datetime=True)
    return data


def deserialize_job(data: bytes) -> dict[str, Any]:
    job: dict[str, Any] = msgpack.unpackb(data, raw=False, timestamp=3)
    return job


def create_redis(url: str, *, fail_fast: bool = False) -> ArqRedis:
    """An arq-capable client with a socket timeout, which arq's own settings lack.

    ``fail_fast`` is for the webhook path: Postgres already holds the message, so a Redis that
    does not answer at once is skipped (the sweeper enqueues later) rather than waited for."""
    settings = redis_settings(url)
    return ArqRedis(
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        host=settings.host,
        port=settings.port,
        db=settings.database,
        username=settings.username,
        password=settings.password,
        ssl=settings.ssl,
        socket_timeout=0.5 if fail_fast else 5,
        socket_connect_timeout=0.25 if fail_fast else 2,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=1, base=0.05), 0 if fail_fast else 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        decode_responses=False,
    )
