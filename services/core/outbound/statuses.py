"""What the Cloud API reports about the messages we sent: sent, delivered, read, failed.

Statuses arrive in any order and more than once; a message only moves forward (a late "sent"
never overwrites "read"). A failed status after the send was accepted (the customer's phone
unreachable for days, a number that left WhatsApp) is logged with Meta's error code."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.channels.meta_webhook import Status
from services.core.logging import get_logger
from services.core.metrics import DELIVERY_STATUSES

from . import records

log = get_logger(__name__)
_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


async def record(
    session: AsyncSession, tenant_id: int, tenant_slug: str, found: Sequence[Status]
) -> int:
    """Apply the statuses to the tenant's messages; how many rows moved."""
    moved = 0
    for status in found:
        rank = _ORDER.get(status.status)
        if rank is None:
            continue
        behind = [name for name, order in _ORDER.items() if order < rank]
        changed = await records.advance_delivery(
            session, tenant_id, status.message_id, status.status, behind
        )
        if changed is None:
            continue
        moved += 1
        DELIVERY_STATUSES.labels(tenant_slug, status.status).inc()
        if status.status == "failed":
            log.warning("delivery.failed", outbound_id=changed, error_code=status.error_code)
    return moved
