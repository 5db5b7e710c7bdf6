"""A tenant at a glance, for the panel: status, switches, limits, budget use, webhook health."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ACTIVE_HANDOFF_STATES, Handoff, InboundMessage, LlmUsage, Tenant

from .spec import BotTenantSpec


@dataclass(frozen=True, slots=True)
class TenantOverview:
    id: int
    slug: str
    display_name: str
    enabled: bool
    paused: bool
    pause_reason: str | None
    model: str
    variant: str
    handoff: bool
    knowledge_entries: int
    per_contact_per_minute: int
    per_tenant_per_minute: int
    budget: int | None
    used_tokens: int
    last_webhook_at: datetime | None
    handoffs_open: int

    @property
    def budget_ratio(self) -> float | None:
        return None if not self.budget else self.used_tokens / self.budget


async def _by_tenant[V](session: AsyncSession, query: Select[int, V]) -> dict[int, V]:
    return {tenant_id: value for tenant_id, value in await session.execute(query)}


async def tenant_overviews(
    session: AsyncSession, *, scope: Collection[int] | None, now: datetime | None = None
) -> list[TenantOverview]:
    query = select(Tenant).order_by(Tenant.slug)
    if scope is not None:
        query = query.where(Tenant.id.in_(list(scope)))
    tenants = list(await session.scalars(query))
    ids = [t.id for t in tenants]
    month = (now or datetime.now(UTC)).date().replace(day=1)
    usage = await _by_tenant(
        session,
        select(LlmUsage.tenant_id, LlmUsage.prompt_tokens + LlmUsage.output_tokens).where(
            LlmUsage.tenant_id.in_(ids), LlmUsage.month == month
        ),
    )
    last_hook = await _by_tenant(
        session,
        select(InboundMessage.tenant_id, func.max(InboundMessage.received_at))
        .where(InboundMessage.tenant_id.in_(ids))
        .group_by(InboundMessage.tenant_id),
    )
    open_handoffs = await _by_tenant(
        session,
        select(Handoff.tenant_id, func.count())
        .where(Handoff.tenant_id.in_(ids), Handoff.status.in_(ACTIVE_HANDOFF_STATES))
        .group_by(Handoff.tenant_id),
    )
    found = []
    for tenant in tenants:
        spec = BotTenantSpec.model_validate(tenant.spec)
        found.append(
            TenantOverview(
                id=tenant.id,
                slug=tenant.slug,
                display_name=tenant.display_name,
                enabled=tenant.enabled,
                paused=tenant.paused,
                pause_reason=tenant.pause_reason,
                model=tenant.model_override or spec.llm.model,
                variant=str(spec.whaticket.variant) if spec.whaticket.url else "sandbox",
                handoff=spec.features.handoff,
                knowledge_entries=len(spec.knowledge.entries),
                per_contact_per_minute=spec.rate_limits.per_contact_per_minute,
                per_tenant_per_minute=spec.rate_limits.per_tenant_per_minute,
                budget=spec.llm.monthly_token_budget,
                used_tokens=int(usage.get(tenant.id, 0)),
                last_webhook_at=last_hook.get(tenant.id),
                handoffs_open=int(open_handoffs.get(tenant.id, 0)),
            )
        )
    return found
