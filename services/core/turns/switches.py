"""Resuming a tenant, as the CLI, the panel and ``/api/v1`` all do it.

The switch itself is a tenant's (:mod:`services.core.tenants.switches`); what a resume adds is
the backlog its pause left (:mod:`.backlog`), so it stands on the turns floor. Two steps around
the caller's commit: :func:`resume` in the transaction, :func:`queue_backlog` after it and after
the change was announced (a worker must see the tenant resumed before its jobs run).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.models import Tenant
from services.core.tenants import switches
from services.core.tenants.spec import BotTenantSpec

from .backlog import Backlog, gather_backlog


@dataclass(frozen=True, slots=True)
class Resumed:
    switch: switches.SwitchResult
    backlog: Backlog = field(default_factory=Backlog)


async def resume(session: AsyncSession, slug: str, *, actor: str) -> Resumed:
    """Resume (audited) and, if it was paused, prepare its backlog in the caller's transaction."""
    result = await switches.resume(session, slug, actor=actor)
    if result.outcome != "updated":
        return Resumed(result)
    tenant = await session.get(Tenant, result.tenant_id)
    assert tenant is not None
    ttl = BotTenantSpec.model_validate(tenant.spec).conversation.context_ttl_minutes
    return Resumed(result, await gather_backlog(session, tenant.id, context_ttl_minutes=ttl))


async def queue_backlog(redis: ArqRedis, resumed: Resumed) -> int:
    """After the commit: one job per conversation that waited; how many Redis took (the
    sweeper queues the rest). Job ids carry the version, so a second resume is not deduped."""
    queued = 0
    for inbound_id in resumed.backlog.queue:
        suffix = f"resume{resumed.switch.version}"
        if await jobs.enqueue_inbound(redis, inbound_id, suffix=suffix) != "failed":
            queued += 1
    return queued
