"""Send one due event: Standard Webhooks signature, POST, and what the answer means.

A delivery is claimed before it is sent (``next_attempt_at`` pushed past the request's
timeout), so a second job for the same row finds nothing to do. The ``webhook-id`` stays the
same across retries; the timestamp and signature are fresh for each attempt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from services.core.channels.egress import Egress, EgressRefused
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.logging import get_logger
from services.core.metrics import EVENT_DELIVERIES, EVENT_SUBSCRIPTIONS_DISABLED
from services.core.models import EventDelivery, EventSubscriptionState, Tenant
from services.core.tenants.directory import TenantConfig, TenantDirectory

log = get_logger(__name__)
USER_AGENT = "Atende-Webhooks/1"
_DUE = text(
    """
    SELECT d.id FROM event_deliveries d
    LEFT JOIN event_subscription_states s
      ON s.tenant_id = d.tenant_id AND s.subscription = d.subscription
    WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND s.disabled_at IS NULL
    ORDER BY d.next_attempt_at
    LIMIT :limit
    """
)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    status: str  # delivered | retry | failed
    http_status: int | None = None
    disabled: bool = False  # this failure switched the subscription off


async def due_deliveries(sessionmaker: SessionMaker, limit: int = 500) -> list[int]:
    """Pending deliveries whose time has come, of subscriptions not switched off."""
    async with sessionmaker() as session:
        return list(await session.scalars(_DUE, {"limit": limit}))


async def _claim(sessionmaker: SessionMaker, delivery_id: int, hold: float) -> EventDelivery | None:
    async with transaction(sessionmaker) as session:
        claimed = await session.scalar(
            update(EventDelivery)
            .where(
                EventDelivery.id == delivery_id,
                EventDelivery.status == "pending",
                EventDelivery.next_attempt_at <= datetime.now(UTC),
            )
            .values(next_attempt_at=datetime.now(UTC) + timedelta(seconds=hold))
            .returning(EventDelivery)
        )
        if claimed is not None:
            session.expunge(claimed)
        return claimed


async def deliver(
    sessionmaker: SessionMaker,
    tenants: TenantDirectory,
    http: Egress,
    settings: Settings,
    delivery_id: int,
) -> DeliveryOutcome | None:
    """Send delivery ``delivery_id`` if it is still due; None when there is nothing to do."""
    row = await _claim(sessionmaker, delivery_id, settings.events_timeout_seconds + 30)
    if row is None:
        return None
    tenant = await tenants.by_id(row.tenant_id)
    label = tenant.slug if tenant is not None else str(row.tenant_id)
    target = _target(tenant, row.subscription) if tenant is not None else None
    if target is None:  # the tenant or the subscription is gone since the event
        return await _record(
            sessionmaker, settings, row, label, None, "subscription removed", final=True
        )
    url, secret = target
    body = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False)
    now = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": row.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(row.message_id, now, body),
    }
    try:
        response = await http.post(
            url,
            content=body.encode(),
            headers=headers,
            timeout=settings.events_timeout_seconds,
        )
    except EgressRefused:
        return await _record(sessionmaker, settings, row, label, None, "egress_refused")
    except (httpx.HTTPError, httpx.InvalidURL):
        # One class for every transport failure: which one (refused, reset, timeout) would
        # tell a tenant what listens on an address; the log keeps nothing more either.
        return await _record(sessionmaker, settings, row, label, None, "unreachable")
    error = None if response.is_success else "http_error"
    return await _record(sessionmaker, settings, row, label, response.status_code, error)


def _target(tenant: TenantConfig, name: str) -> tuple[str, str] | None:
    """The subscription's URL and signing secret, if it still exists."""
    subscription = next((s for s in tenant.spec.events.subscriptions if s.name == name), None)
    secret = tenant.credentials.event_secrets.get(name)
    return (str(subscription.url), secret) if subscription is not None and secret else None


async def _record(
    sessionmaker: SessionMaker,
    settings: Settings,
    row: EventDelivery,
    label: str,
    status: int | None,
    error: str | None,
    *,
    final: bool = False,
) -> DeliveryOutcome:
    now = datetime.now(UTC)
    attempts = row.attempts + 1
    schedule = settings.events_retry_seconds
    if error is None:
        outcome = DeliveryOutcome("delivered", status)
        values: dict[str, object] = {"status": "delivered", "delivered_at": now}
    elif final or attempts > len(schedule):
        outcome = DeliveryOutcome("failed", status)
        values = {"status": "failed"}
    else:
        outcome = DeliveryOutcome("retry", status)
        values = {"next_attempt_at": now + timedelta(seconds=schedule[attempts - 1])}
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(EventDelivery)
            .where(EventDelivery.id == row.id)
            .values(attempts=attempts, last_status=status, last_error=error, **values)
        )
        disabled = await _track_health(session, settings, row, label, error is None, now)
    EVENT_DELIVERIES.labels(label, row.event_type, outcome.status).inc()
    log.info(
        "event.delivery",
        delivery_id=row.id,
        subscription=row.subscription,
        event_type=row.event_type,
        outcome=outcome.status,
        http_status=status,
        error=error,
        attempt=attempts,
    )
    return DeliveryOutcome(outcome.status, status, disabled)


async def _track_health(
    session: AsyncSession,
    settings: Settings,
    row: EventDelivery,
    label: str,
    ok: bool,
    now: datetime,
) -> bool:
    """Failures in a row per subscription; True when this one switched it off."""
    state = insert(EventSubscriptionState).values(
        tenant_id=row.tenant_id,
        subscription=row.subscription,
        consecutive_failures=0 if ok else 1,
        last_success_at=now if ok else None,
    )
    table = EventSubscriptionState
    failures = await session.scalar(
        state.on_conflict_do_update(
            index_elements=[table.tenant_id, table.subscription],
            set_={
                "consecutive_failures": 0 if ok else table.consecutive_failures + 1,
                "last_success_at": now if ok else table.last_success_at,
            },
        ).returning(table.consecutive_failures)
    )
    if ok or (failures or 0) < settings.events_disable_after_failures:
        return False
    switched = await session.scalar(
        update(table)
        .where(
            table.tenant_id == row.tenant_id,
            table.subscription == row.subscription,
            table.disabled_at.is_(None),
        )
        .values(disabled_at=now)
        .returning(table.subscription)
    )
    if switched is None:
        return False
    EVENT_SUBSCRIPTIONS_DISABLED.labels(label).inc()
    log.warning(
        "event.subscription_disabled",
        tenant=label,
        subscription=row.subscription,
        failures=failures,
    )
    return True


async def enable_subscription(sessionmaker: SessionMaker, tenant_id: int, name: str) -> bool:
    """Switch a subscription back on (its waiting deliveries go out again); False if it was
    not off."""
    async with transaction(sessionmaker) as session:
        done = await session.scalar(
            update(EventSubscriptionState)
            .where(
                EventSubscriptionState.tenant_id == tenant_id,
                EventSubscriptionState.subscription == name,
                EventSubscriptionState.disabled_at.is_not(None),
            )
            .values(disabled_at=None, consecutive_failures=0)
            .returning(EventSubscriptionState.subscription)
        )
        if done is not None:
            await session.execute(
                update(EventDelivery)
                .where(
                    EventDelivery.tenant_id == tenant_id,
                    EventDelivery.subscription == name,
                    EventDelivery.status == "pending",
                )
                .values(next_attempt_at=datetime.now(UTC))
            )
    return done is not None


async def recent_deliveries(
    session: AsyncSession, tenant_id: int, limit: int = 50
) -> list[EventDelivery]:
    """The tenant's latest deliveries, newest first (the delivery log)."""
    return list(
        await session.scalars(
            select(EventDelivery)
            .where(EventDelivery.tenant_id == tenant_id)
            .order_by(EventDelivery.id.desc())
            .limit(limit)
        )
    )


async def delivery_log(
    session: AsyncSession, scope: int | None, limit: int = 200
) -> tuple[list[tuple[EventDelivery, str]], list[tuple[str, str, datetime]]]:
    """For the panel: the latest deliveries with their tenant's slug, and the subscriptions
    switched off (tenant, subscription, since); ``scope`` one tenant, None every tenant."""
    deliveries = (
        select(EventDelivery, Tenant.slug)
        .join(Tenant, Tenant.id == EventDelivery.tenant_id)
        .order_by(EventDelivery.id.desc())
        .limit(limit)
    )
    off = (
        select(Tenant.slug, EventSubscriptionState.subscription, EventSubscriptionState.disabled_at)
        .join(Tenant, Tenant.id == EventSubscriptionState.tenant_id)
        .where(EventSubscriptionState.disabled_at.is_not(None))
        .order_by(Tenant.slug, EventSubscriptionState.subscription)
    )
    if scope is not None:
        deliveries = deliveries.where(EventDelivery.tenant_id == scope)
        off = off.where(EventSubscriptionState.tenant_id == scope)
    rows = [(d, slug) for d, slug in await session.execute(deliveries)]
    switched = [(slug, name, at) for slug, name, at in await session.execute(off) if at]
    return rows, switched
