"""Pause and resume from the panel and the API, with the CLI's guarantees: audited, announced
to every process, and on resume the conversations that waited are queued again."""

from __future__ import annotations

from services.api.state import AppState
from services.core import jobs
from services.core.db import transaction
from services.core.models import Tenant
from services.core.tenants import switches
from services.core.tenants.notify import tenant_changed
from services.core.tenants.spec import BotTenantSpec
from services.core.turns.backlog import gather_backlog


async def pause(state: AppState, slug: str, *, reason: str, actor: str) -> switches.SwitchResult:
    async with transaction(state.sessionmaker) as session:
        result = await switches.pause(session, slug, reason=reason, actor=actor)
    if result.outcome == "updated":
        state.tenants.invalidate(slug)
        await tenant_changed(state.redis, slug)
    return result


async def resume(state: AppState, slug: str, *, actor: str) -> int:
    """How many waiting conversations were queued again."""
    async with transaction(state.sessionmaker) as session:
        result = await switches.resume(session, slug, actor=actor)
        queue: list[int] = []
        if result.outcome == "updated":
            tenant = await session.get(Tenant, result.tenant_id)
            assert tenant is not None
            ttl = BotTenantSpec.model_validate(tenant.spec).conversation.context_ttl_minutes
            queue = (await gather_backlog(session, result.tenant_id, context_ttl_minutes=ttl)).queue
    if result.outcome != "updated":
        return 0
    state.tenants.invalidate(slug)
    await tenant_changed(state.redis, slug)  # before the jobs: workers must see it resumed
    queued = 0
    for inbound_id in queue:
        suffix = f"resume{result.version}"
        if await jobs.enqueue_inbound(state.redis, inbound_id, suffix=suffix) != "failed":
            queued += 1
    return queued
