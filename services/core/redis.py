"""Redis connections that survive restarts and never hang forever on a partition."""

from __future__ import annotations

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


def create_redis(url: str) -> ArqRedis:
    """An arq-capable client with a socket timeout, which arq's own settings lack."""
    settings = redis_settings(url)
    return ArqRedis(
        host=settings.host,
        port=settings.port,
        db=settings.database,
        username=settings.username,
        password=settings.password,
        ssl=settings.ssl,
        socket_timeout=5,
        socket_connect_timeout=2,
        socket_keepalive=True,
        retry=Retry(ExponentialBackoff(cap=1, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        decode_responses=False,
    )
