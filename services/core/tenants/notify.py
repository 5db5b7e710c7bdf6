"""Tenant change notices on a Redis channel, so running processes drop stale configuration.

Whoever changes a tenant (``atende tenants apply``, the operational switches, the operator)
calls :func:`tenant_changed` *after* the change committed. Every api and worker process follows
the channel (:meth:`TenantDirectory.follow_changes`) and drops that tenant from its cache, so the
next webhook or turn reads the new row. Pub/sub is fire-and-forget: a process that was not
subscribed at that moment (Redis down, reconnecting) still sees the change when its cache entry
expires (``ATENDE_TENANT_CACHE_SECONDS``); on every (re)subscription it also drops everything.
"""

from __future__ import annotations

import json

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.core.logging import get_logger

CHANNEL = "atende:tenants"
log = get_logger(__name__)


async def tenant_changed(redis: aioredis.Redis, slug: str) -> bool:
    """Tell every process that ``slug`` changed; False (logged) if Redis did not take it."""
    try:
        await redis.publish(CHANNEL, json.dumps({"slug": slug}))
    except (RedisError, OSError) as exc:
        log.warning("tenants.notify_failed", tenant=slug, error=type(exc).__name__)
        return False
    return True


def parse_notice(data: bytes | str) -> str | None:
    """The slug a notice names, or None for anything malformed."""
    try:
        notice = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    slug = notice.get("slug") if isinstance(notice, dict) else None
    return slug if isinstance(slug, str) and slug else None
