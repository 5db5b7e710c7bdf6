"""Record an event for every subscription that wants it, in the caller's transaction (an
outbox: the caller's commit makes it real, the workers send it). A subscription switched off
for failing records nothing until it is switched back on."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import EventDelivery, EventSubscriptionState
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType


def delivery(
    tenant_id: int, slug: str, subscription: str, event: EventType, data: dict[str, Any]
) -> dict[str, Any]:
    """The row of one event for one subscription (``webhook-id`` generated here, kept across
    retries); the body is the Standard Webhooks convention: type, timestamp, data."""
    now = datetime.now(UTC)
    return {
        "tenant_id": tenant_id,
        "subscription": subscription,
        "event_type": event.value,
        "message_id": f"msg_{uuid.uuid4().hex}",
        "payload": {
            "type": event.value,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"tenant": slug, **data},
        },
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }


async def switched_off(session: AsyncSession, tenant_ids: Sequence[int]) -> set[tuple[int, str]]:
    rows = await session.execute(
        select(EventSubscriptionState.tenant_id, EventSubscriptionState.subscription).where(
            EventSubscriptionState.tenant_id.in_(tenant_ids),
            EventSubscriptionState.disabled_at.is_not(None),
        )
    )
    return {(tenant_id, name) for tenant_id, name in rows}


async def record(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert the rows of subscriptions that are not switched off; how many."""
    if not rows:
        return 0
    off = await switched_off(session, sorted({r["tenant_id"] for r in rows}))
    kept = [r for r in rows if (r["tenant_id"], r["subscription"]) not in off]
    if kept:
        await session.execute(insert(EventDelivery), kept)
    return len(kept)


async def emit(
    session: AsyncSession, tenant: TenantConfig, event: EventType, data: dict[str, Any]
) -> int:
    """Queue ``event`` for each enabled subscription of ``tenant`` that lists it."""
    rows = [
        delivery(tenant.id, tenant.slug, s.name, event, data)
        for s in tenant.spec.events.wanting(event)
    ]
    return await record(session, rows)
