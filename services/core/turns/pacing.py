"""Rate limits of turns: per contact and per tenant (``spec.rateLimits``), checked before the
model is called.

A turn over a limit is not dropped: its job is deferred by the limiter's retry-after, the
messages stay stored and keep gathering, and the turn that finally runs answers all of them.
A contact kept waiting longer than a bound gets the tenant's ``persona.waitMessage`` once per
episode, so a limited customer sees a sign of life rather than silence.
"""

from __future__ import annotations

import time

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.core.logging import get_logger
from services.core.ratelimit.limiter import Limit, default_burst
from services.core.tenants.directory import TenantConfig

log = get_logger(__name__)
EPISODE_GRACE_SECONDS = 5.0


def turn_limits(tenant: TenantConfig, contact_id: int) -> tuple[Limit, Limit]:
    """The contact's and the tenant's limits; one hash tag so one script checks both."""
    limits = tenant.spec.rate_limits
    prefix = f"rl:{{t{tenant.id}}}"
    return (
        Limit(
            f"{prefix}:contact:{contact_id}",
            limits.per_contact_per_minute,
            default_burst(limits.per_contact_per_minute),
            "contact",
        ),
        Limit(
            f"{prefix}:tenant",
            limits.per_tenant_per_minute,
            default_burst(limits.per_tenant_per_minute),
            "tenant",
        ),
    )


def _episode_keys(tenant: TenantConfig, contact_id: int) -> tuple[str, str]:
    prefix = f"rl:{{t{tenant.id}}}:contact:{contact_id}"
    return f"{prefix}:limited-since", f"{prefix}:noticed"


async def claim_notice(
    redis: ArqRedis, tenant: TenantConfig, contact_id: int, retry_after: float, bound: float
) -> bool:
    """True when this contact, limited now, will have waited longer than ``bound`` and has not
    been told in this episode; the claim is taken (call :func:`release_notice` if the send fails).

    An episode is a run of limited decisions; it ends ``EPISODE_GRACE_SECONDS`` after the last
    one's retry-after."""
    since_key, noticed_key = _episode_keys(tenant, contact_id)
    ttl_ms = int((retry_after + EPISODE_GRACE_SECONDS) * 1000)
    now = time.time()
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(since_key, repr(now), nx=True, px=ttl_ms)
            pipe.get(since_key)
            pipe.pexpire(since_key, ttl_ms)
            pipe.pexpire(noticed_key, ttl_ms)
            _, since_raw, _, _ = await pipe.execute()
        since = float(since_raw) if since_raw is not None else now
        if now - since + retry_after <= bound:
            return False
        return bool(await redis.set(noticed_key, b"1", nx=True, px=ttl_ms))
    except (RedisError, OSError, ValueError) as exc:
        log.warning("ratelimit.notice_state_failed", error=type(exc).__name__)
        return False


async def release_notice(redis: ArqRedis, tenant: TenantConfig, contact_id: int) -> None:
    try:
        await redis.delete(_episode_keys(tenant, contact_id)[1])
    except (RedisError, OSError) as exc:
        log.warning("ratelimit.notice_state_failed", error=type(exc).__name__)
