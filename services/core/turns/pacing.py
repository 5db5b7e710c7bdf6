"""Rate limits of turns: per contact and per tenant (``spec.rateLimits``), checked before the
model is called.

A turn over a limit is not dropped: its job is deferred by the limiter's retry-after, the
messages stay stored and keep gathering, and the turn that finally runs answers all of them.
A contact kept waiting longer than a bound gets the tenant's ``messages.wait`` once per
episode, so a limited customer sees a sign of life rather than silence. The notice goes out on
the conversation's own channel (Whaticket, the Cloud API, the sandbox) through the one path out,
and is not stored: the real answer follows at the limited pace whatever happens to it.
"""

from __future__ import annotations

import math
import random
import time

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from services.core.db import autocommit
from services.core.errors import DependencyError
from services.core.handoff.messages import say
from services.core.logging import get_logger
from services.core.metrics import RATE_LIMIT_NOTICES, RATE_LIMITED
from services.core.outbound.sending import send_unstored
from services.core.ratelimit.limiter import Limit, default_burst
from services.core.retry import RetryLater
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.messages import Kind

from . import store
from .store import Origin

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


async def within_rate_limits(deps: Runtime, tenant: TenantConfig, origin: Origin) -> None:
    """Charge a new turn to the contact and the tenant, or defer the job (RetryLater)."""
    decision = await deps.limiter.hit(*turn_limits(tenant, origin.contact_id))
    if decision.allowed:
        return
    dimension = decision.dimension or "unknown"
    RATE_LIMITED.labels(tenant.slug, dimension).inc()
    log.info("turn.rate_limited", dimension=dimension, retry_after=decision.retry_after)
    bound = deps.settings.rate_limit_notice_after_seconds
    if await claim_notice(deps.cache, tenant, origin.contact_id, decision.retry_after, bound):
        await _send_wait_notice(deps, tenant, origin, decision.retry_after)
    # A little jitter, so the jobs of one burst do not all come back at the same instant.
    raise RetryLater(decision.retry_after + random.uniform(0.05, 0.5), f"rate limited: {dimension}")


async def _send_wait_notice(
    deps: Runtime, tenant: TenantConfig, origin: Origin, retry_after: float
) -> None:
    """Best effort; a notice that could not go out is claimed again by the next limited job.
    ``{minutos}`` is this deferral's wait, rounded up (the answer may take a few)."""
    async with autocommit(deps.sessionmaker) as session:
        connection, phone = await store.recipient(session, origin.conversation_id)
    text = say(tenant.spec, Kind.WAIT, deps.clock(), minutes=math.ceil(retry_after / 60))
    try:
        await send_unstored(deps, tenant, connection, phone, text)
    except DependencyError as exc:
        await release_notice(deps.cache, tenant, origin.contact_id)
        log.warning("turn.wait_notice_failed", error_class=exc.error_class)
        return
    RATE_LIMIT_NOTICES.labels(tenant.slug).inc()
    log.info("turn.wait_notice_sent")
