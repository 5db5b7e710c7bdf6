"""spec.retention, on a clock the test moves: raw payloads go first, then a tenant's old
messages with everything that hangs off them, each tenant on its own days, in bounded batches,
counted in atende_retention_erased_total; audit rows go only as a prefix of the chain, which
still verifies afterwards, and never by a clock later than the database's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from services.core.audit.keys import process_keyring
from services.core.audit.service import chained, verify
from services.core.db import transaction
from services.core.models import (
    AuditEvent,
    Contact,
    Conversation,
    EventDelivery,
    InboundMessage,
    OutboundMessage,
    Turn,
)
from services.worker.tasks.retention import enforce
from tests.core.privacy.population import EVENTS_SECRET
from tests.fixtures.turns import Harness

SHORT = {"messagesDays": 90, "rawPayloadsDays": 7, "auditDays": 180}


def erased_total(tenant: str, kind: str) -> float:
    value = REGISTRY.get_sample_value(
        "atende_retention_erased_total", {"tenant": tenant, "kind": kind}
    )
    return value or 0.0


async def two_tenants(harness: Harness) -> None:
    subscription = {
        "name": "n8n",
        "url": "http://127.0.0.1:9/webhook/atende",
        "events": ["turn.answered"],
        "secretRef": {"name": "acme", "key": "n8n-signing"},
    }
    extra: dict[str, Any] = {
        "extra_secrets": {"n8n-signing": EVENTS_SECRET},
        "events": {"subscriptions": [subscription]},
    }
    tenants = {
        "other": await harness.apply_tenant(slug="other", **extra),  # the defaults
        "acme": await harness.apply_tenant(slug="acme", retention=SHORT, **extra),
    }
    for slug, tenant in tenants.items():
        harness.tenant = tenant
        for n in range(3):
            inbound = await harness.ingest(f"{slug} pergunta {n}", phone=f"551190000000{n}")
            await harness.run(inbound)


async def count(harness: Harness, model: Any, tenant: str, *where: Any) -> int:
    async with harness.sessionmaker() as session:
        tenant_id = await session.scalar(
            text("SELECT id FROM tenants WHERE slug = :s"), {"s": tenant}
        )
        query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *where)
        return int(await session.scalar(query) or 0)


async def test_payloads_go_first_then_messages_each_tenant_on_its_own_days(
    harness: Harness,
) -> None:
    await two_tenants(harness)
    now = datetime.now(UTC)
    emptied = InboundMessage.payload == text("'{}'::jsonb")

    assert await enforce(harness.sessionmaker, now + timedelta(days=6)) == {}

    before = erased_total("acme", "raw_payloads")
    ran = await enforce(harness.sessionmaker, now + timedelta(days=8))
    # three webhook payloads and three Whaticket responses to the replies
    assert ran == {("acme", "raw_payloads"): 6}
    assert erased_total("acme", "raw_payloads") - before == 6
    assert await count(harness, InboundMessage, "acme", emptied) == 3
    assert (
        await count(harness, OutboundMessage, "acme", OutboundMessage.provider_response.is_(None))
        == 3
    )
    assert await count(harness, OutboundMessage, "acme") == 3
    assert await count(harness, InboundMessage, "acme") == 3  # the text stays
    assert await count(harness, InboundMessage, "other", emptied) == 0

    ran = await enforce(harness.sessionmaker, now + timedelta(days=91))
    assert ran[("acme", "messages")] == 3
    assert ran[("acme", "replies")] == 3
    assert ran[("acme", "turns")] == 3
    assert ran[("acme", "events")] == 3
    assert ran[("acme", "conversations")] == 3
    assert ran[("acme", "contacts")] == 3
    assert ran[("other", "raw_payloads")] == 6  # 30 days by default
    for model in (InboundMessage, OutboundMessage, Turn, Conversation, Contact, EventDelivery):
        assert await count(harness, model, "acme") == 0, model
        assert await count(harness, model, "other") == 3, model
    async with harness.sessionmaker() as session:
        texts = list(await session.scalars(select(InboundMessage.text)))
    assert sorted(texts) == [f"other pergunta {n}" for n in range(3)]

    assert await enforce(harness.sessionmaker, now + timedelta(days=91)) == {}  # idempotent


async def test_each_run_erases_a_bounded_batch_and_the_next_runs_go_on(
    harness: Harness,
) -> None:
    await two_tenants(harness)
    later = datetime.now(UTC) + timedelta(days=91)
    first = await enforce(harness.sessionmaker, later, batch=1, max_batches=1)
    assert first[("acme", "messages")] == 1
    assert first[("acme", "replies")] == 1
    assert await count(harness, InboundMessage, "acme") == 2
    for _ in range(4):
        await enforce(harness.sessionmaker, later, batch=1, max_batches=1)
    assert await count(harness, InboundMessage, "acme") == 0
    assert await count(harness, Contact, "acme") == 0
    assert await count(harness, InboundMessage, "other") == 3

    ticks = iter([0.0, 0.0, 999.0])  # the time budget runs out after one batch
    spent = await enforce(harness.sessionmaker, later, monotonic=lambda: next(ticks, 999.0))
    assert sum(spent.values()) <= 3


async def _old_audit_rows(harness: Harness, rows: list[tuple[int, int | None]]) -> list[int]:
    """Rows ``days`` old for ``tenant_id``, chained and signed like the application's."""
    keys = process_keyring()
    now = datetime.now(UTC)
    ids = []
    async with transaction(harness.sessionmaker) as session:
        prev = await session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()))
        for days, tenant_id in rows:
            event = AuditEvent(
                at=(now - timedelta(days=days)).replace(microsecond=0),
                actor="panel:admin@example.com",
                action="conversation.viewed",
                tenant_id=tenant_id,
                details={"conversation_id": days},
                prev_hash=prev,
                key_id=keys.current_id,
            )
            event.hash = keys.sign(chained(prev, event))
            session.add(event)
            await session.flush()
            ids.append(event.id)
            prev = event.hash
    return ids


async def test_old_audit_rows_go_as_a_prefix_and_the_chain_still_verifies(
    harness: Harness,
) -> None:
    acme = await harness.apply_tenant(slug="acme", retention=SHORT)
    ids = await _old_audit_rows(
        harness, [(800, acme.id), (750, None), (200, acme.id), (100, acme.id), (0, None)]
    )
    now = datetime.now(UTC)
    assert await enforce(harness.sessionmaker, now - timedelta(days=1000)) == {}
    before = erased_total("*", "audit")

    ran = await enforce(harness.sessionmaker, now + timedelta(days=3650))  # clamped to now
    assert ran == {("*", "audit"): 3}
    assert erased_total("*", "audit") - before == 3
    async with harness.sessionmaker() as session:
        kept = list(await session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))
        [pruned] = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.pruned"))
        )
        check = await verify(session)
    assert kept[:2] == ids[3:]
    assert (pruned.details["rows"], pruned.details["through_id"]) == (3, ids[2])
    assert check.ok, check.summary

    assert await enforce(harness.sessionmaker, now) == {}  # the 100-day row waits its turn

    async with transaction(harness.sessionmaker) as session:  # someone erases a kept row
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[3]})
    async with harness.sessionmaker() as session:
        broken = await verify(session)
    assert broken.broken_at == ids[4]
    assert broken.reason == "link"
    assert json.dumps(pruned.details)  # plain JSON
