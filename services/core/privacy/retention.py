"""``spec.retention`` enforced: one bounded statement per call, in the caller's transaction.

The worker's retention job (services/worker/tasks/retention.py) calls :func:`erase_batch` for
each tenant and kind, oldest rows first, one transaction per batch, until a batch comes back
short. Every statement is a ``WHERE`` on age and what still refers to a row, so a batch
repeated after a crash erases nothing twice and never leaves a reference dangling:

* ``raw_payloads`` (after ``rawPayloadsDays``): the webhook's payload beside a message's text
  becomes ``{}``; a reply's provider response becomes NULL.
* after ``messagesDays``: workflow events, dead letters, handoffs no longer active, replies,
  messages; then turns nothing refers to, conversations left with nothing, and contacts left
  without a conversation that were not written to since.
* ``audit`` (after each tenant's ``auditDays``): :func:`services.core.audit.pruning.prune`, a
  prefix of the one chain at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import pruning
from services.core.audit.service import record
from services.core.tenants.retention import RetentionSpec

BATCH = 500
AUDIT = "audit"
RAW_PAYLOADS = "raw_payloads"

# kind → statements, oldest rows first; :tenant, :cutoff and :limit bound each one.
_PAYLOADS = (
    "UPDATE inbound_messages SET payload = '{}'::jsonb WHERE id IN (SELECT id FROM "
    "inbound_messages WHERE tenant_id = :tenant AND received_at < :cutoff "
    "AND payload <> '{}'::jsonb ORDER BY received_at LIMIT :limit)",
    "UPDATE outbound_messages SET provider_response = NULL WHERE id IN (SELECT id FROM "
    "outbound_messages WHERE tenant_id = :tenant AND created_at < :cutoff "
    "AND provider_response IS NOT NULL ORDER BY created_at LIMIT :limit)",
)
MESSAGE_KINDS: dict[str, str] = {
    "events": "DELETE FROM event_deliveries WHERE id IN (SELECT id FROM event_deliveries "
    "WHERE tenant_id = :tenant AND created_at < :cutoff ORDER BY created_at LIMIT :limit)",
    "dead_letters": "DELETE FROM dead_letters WHERE id IN (SELECT id FROM dead_letters "
    "WHERE tenant_id = :tenant AND created_at < :cutoff ORDER BY created_at LIMIT :limit)",
    # An active handoff stays (and with it its conversation) until a person is done.
    "handoffs": "DELETE FROM handoffs WHERE id IN (SELECT id FROM handoffs "
    "WHERE tenant_id = :tenant AND created_at < :cutoff "
    "AND status NOT IN ('requested', 'transferred', 'failed') ORDER BY created_at LIMIT :limit)",
    "replies": "DELETE FROM outbound_messages WHERE id IN (SELECT id FROM outbound_messages "
    "WHERE tenant_id = :tenant AND created_at < :cutoff ORDER BY created_at LIMIT :limit)",
    "messages": "DELETE FROM inbound_messages WHERE id IN (SELECT id FROM inbound_messages "
    "WHERE tenant_id = :tenant AND received_at < :cutoff ORDER BY received_at LIMIT :limit)",
    "turns": "DELETE FROM turns WHERE id IN (SELECT t.id FROM turns t "
    "WHERE t.tenant_id = :tenant AND t.created_at < :cutoff "
    "AND NOT EXISTS (SELECT FROM inbound_messages m WHERE m.turn_id = t.id) "
    "AND NOT EXISTS (SELECT FROM outbound_messages o WHERE o.turn_id = t.id) "
    "AND NOT EXISTS (SELECT FROM handoffs h WHERE h.turn_id = t.id) "
    "AND NOT EXISTS (SELECT FROM dead_letters d WHERE d.turn_id = t.id) "
    "ORDER BY t.created_at LIMIT :limit)",
    "conversations": "DELETE FROM conversations WHERE id IN (SELECT c.id FROM conversations c "
    "WHERE c.tenant_id = :tenant "
    "AND GREATEST(c.updated_at, COALESCE(c.last_inbound_at, c.updated_at)) < :cutoff "
    "AND NOT EXISTS (SELECT FROM inbound_messages m WHERE m.conversation_id = c.id) "
    "AND NOT EXISTS (SELECT FROM outbound_messages o WHERE o.conversation_id = c.id) "
    "AND NOT EXISTS (SELECT FROM turns t WHERE t.conversation_id = c.id) "
    "AND NOT EXISTS (SELECT FROM handoffs h WHERE h.conversation_id = c.id) "
    "ORDER BY c.id LIMIT :limit)",
    "contacts": "DELETE FROM contacts WHERE id IN (SELECT k.id FROM contacts k "
    "WHERE k.tenant_id = :tenant AND k.updated_at < :cutoff "
    "AND NOT EXISTS (SELECT FROM conversations c WHERE c.contact_id = k.id) "
    "ORDER BY k.id LIMIT :limit)",
}
KINDS = (RAW_PAYLOADS, *MESSAGE_KINDS)


@dataclass(frozen=True, slots=True)
class TenantRetention:
    tenant_id: int
    slug: str
    spec: RetentionSpec


async def tenants(session: AsyncSession) -> list[TenantRetention]:
    """Every tenant's retention (defaults where its spec says nothing)."""
    rows = await session.execute(
        text("SELECT id, slug, spec -> 'retention' AS retention FROM tenants ORDER BY id")
    )
    return [
        TenantRetention(row.id, row.slug, RetentionSpec.model_validate(row.retention or {}))
        for row in rows
    ]


def cutoff(tenant: TenantRetention, kind: str, now: datetime) -> datetime:
    days = tenant.spec.raw_payloads_days if kind == RAW_PAYLOADS else tenant.spec.messages_days
    return now - timedelta(days=days)


async def erase_batch(
    session: AsyncSession, tenant: TenantRetention, kind: str, now: datetime, limit: int = BATCH
) -> int:
    """At most ``limit`` rows of ``kind`` per statement past the tenant's retention at
    ``now``; how many rows it erased (or, for ``raw_payloads``, emptied)."""
    params = {"tenant": tenant.tenant_id, "cutoff": cutoff(tenant, kind, now), "limit": limit}
    statements = _PAYLOADS if kind == RAW_PAYLOADS else (MESSAGE_KINDS[kind],)
    total = 0
    for sql in statements:
        result = await session.execute(text(sql), params)
        total += int(getattr(result, "rowcount", 0) or 0)
    return total


async def prune_audit(session: AsyncSession, now: datetime, limit: int = BATCH) -> int:
    """At most ``limit`` audit rows past their tenant's ``auditDays`` (never counted from later
    than the database's clock), recorded in an ``audit.pruned`` row."""
    pruned = await pruning.prune(session, now, limit)
    if pruned.rows:
        await record(
            session,
            actor=pruning.ACTOR,
            action=pruning.PRUNED,
            tenant_id=None,
            details=pruned.details(),
        )
    return pruned.rows
