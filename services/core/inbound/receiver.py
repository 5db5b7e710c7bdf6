"""The webhook's whole job, without HTTP: authenticate, normalize, store durably, schedule.

Order matters: authentication needs only the path, so a wrong secret costs nothing and reveals
nothing; the message is committed before the caller answers; the enqueue after commit is a fast
path the sweeper backs up.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Literal

from arq.connections import ArqRedis
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.core import jobs
from services.core.db import SessionMaker, transaction
from services.core.errors import InvalidInput, NotFound, Unauthorized
from services.core.logging import get_logger
from services.core.metrics import SPOOL_PENDING, WEBHOOKS
from services.core.tenants.credentials import matches_any
from services.core.tenants.directory import TenantConfig, TenantDirectory

from .baileys import Ignored, NormalizedMessage, normalize
from .batcher import IngestBatcher, PendingMessage, payload_text
from .service import ingest
from .spool import Spool, SpooledWebhook

Outcome = Literal["accepted", "duplicate", "ignored", "spooled"]
log = get_logger(__name__)
# Connection-level failures mean "Postgres is unreachable": spool. Anything else is a bug.
_DB_DOWN = (OperationalError, InterfaceError, OSError, asyncio.TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class Received:
    outcome: Outcome
    inbound_id: int | None = None
    reason: str | None = None


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidInput("body must be a JSON object")
    return payload


def _is_db_down(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _DB_DOWN)


class WebhookReceiver:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        redis: ArqRedis,
        tenants: TenantDirectory,
        spool: Spool,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._tenants = tenants
        self._spool = spool
        self._batcher = IngestBatcher(sessionmaker)

    async def authenticate(self, slug: str, connection: str, secret: str) -> TenantConfig:
        tenant = await self._tenants.by_slug(slug)
        if tenant is None or not tenant.enabled:
            WEBHOOKS.labels("unknown", "unknown_tenant").inc()
            raise NotFound("unknown tenant")
        if not matches_any(secret, list(tenant.webhook_secret_hashes)):
            WEBHOOKS.labels(tenant.slug, "unauthorized").inc()
            raise Unauthorized()
        if tenant.spec.connection(connection) is None:
            WEBHOOKS.labels(tenant.slug, "unknown_connection").inc()
            raise NotFound(f"unknown connection {connection!r} for this tenant")
        return tenant

    async def receive(
        self, tenant: TenantConfig, connection: str, body: bytes, correlation_id: str
    ) -> Received:
        try:
            payload = parse_json(body)
            normalized = normalize(payload)
        except InvalidInput:
            WEBHOOKS.labels(tenant.slug, "invalid").inc()
            raise
        if isinstance(normalized, Ignored):
            WEBHOOKS.labels(tenant.slug, "ignored").inc()
            return Received("ignored", reason=normalized.reason)
        try:
            inbound_id = await self._store(tenant, connection, normalized, payload, correlation_id)
        except Exception as exc:
            if not _is_db_down(exc):
                raise
            log.error("webhook.spooled", tenant=tenant.slug, error=type(exc).__name__)
            self._spool.append(SpooledWebhook(tenant.slug, connection, payload, correlation_id))
            SPOOL_PENDING.set(self._spool.pending())
            WEBHOOKS.labels(tenant.slug, "spooled").inc()
            return Received("spooled")
        if inbound_id is None:
            WEBHOOKS.labels(tenant.slug, "duplicate").inc()
            return Received("duplicate")
        await jobs.enqueue_inbound(
            self._redis,
            inbound_id,
            defer_seconds=tenant.spec.conversation.debounce_seconds,
            correlation_id=correlation_id,
        )
        WEBHOOKS.labels(tenant.slug, "accepted").inc()
        return Received("accepted", inbound_id=inbound_id)

    async def _store(
        self,
        tenant: TenantConfig,
        connection: str,
        message: NormalizedMessage,
        payload: dict[str, Any],
        correlation_id: str,
    ) -> int | None:
        """Committed before returning: the message id, or None for a duplicate."""
        if message.lid is None and message.phone is not None:
            pending = PendingMessage(
                tenant.id, connection, message, payload_text(payload), correlation_id
            )
            return await self._batcher.ingest(pending)
        async with transaction(self._sessionmaker) as session:  # @lid contacts: linking rules
            ingested = await ingest(
                session,
                tenant_id=tenant.id,
                connection=connection,
                message=message,
                payload=payload,
                correlation_id=correlation_id,
            )
        return ingested.inbound_id

    async def replay_spool(self) -> int:
        """Move spooled webhooks into Postgres; stops at the first sign Postgres is still down.

        Replaying is idempotent (the unique message id drops what was already stored), so a
        crash halfway through a file only costs a second look at its first records."""
        replayed = 0
        try:
            for path in self._spool.claim():
                records = Spool.read(path)
                for index, record in enumerate(records):
                    tenant = await self._tenants.by_slug(record.tenant)
                    if tenant is None:
                        log.error("spool.unknown_tenant", tenant=record.tenant)
                        continue
                    body = json.dumps(record.payload).encode()
                    result = await self.receive(
                        tenant, record.connection, body, record.correlation_id
                    )
                    if result.outcome == "spooled":  # still down: keep the rest for later
                        for rest in records[index + 1 :]:
                            self._spool.append(rest)
                        path.unlink()
                        return replayed
                    replayed += 1
                path.unlink()
        finally:
            SPOOL_PENDING.set(self._spool.pending())
        return replayed
