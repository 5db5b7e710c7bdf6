"""The webhook's whole job, without HTTP: authenticate, normalize, store durably, schedule.

Order matters: a source IP that keeps failing authentication is refused (429) first, from
memory (:mod:`services.core.ratelimit.failed_auth`); authentication needs only the path, so a
wrong secret costs nothing and reveals nothing; the message is committed before the caller
answers; the enqueue after commit is a fast path the sweeper backs up. When the message cannot
be stored — Postgres unreachable, or any other failure past authentication — it is spooled
(:mod:`.spool`) and answered 200 instead: Whaticket does not retry, so a 5xx would lose it. That
holds when this process cannot look the tenant up too, for what the webhook keyring admits
(:mod:`.unverified`). A message that can never be stored (:mod:`.wire`, :mod:`.fits`, or
Postgres refusing it) is refused alone with a 400/422 and counted (:mod:`.refusals`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from arq.connections import ArqRedis

from services.core import events, jobs
from services.core.channels import meta_webhook
from services.core.channels.baileys import Ignored, NormalizedMessage, business_message
from services.core.coalesce import Coalescer
from services.core.db import SessionMaker, transaction
from services.core.errors import (
    AtendeError,
    InvalidInput,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from services.core.handoff.presence import note_business_message
from services.core.logging import get_logger
from services.core.outbound import statuses
from services.core.ratelimit import failed_auth, quota
from services.core.tenants.credentials import hash_webhook_secret, matches_any_hash
from services.core.tenants.directory import TenantConfig, TenantDirectory
from services.core.tenants.spec import META_CONNECTION, EventType
from services.core.tenants.webhook_keys import WebhookKeyring

from . import unverified
from .batcher import PendingMessage, ingest_batch, payload_text, received_event
from .counts import counted
from .fits import check_fits, has_connection, is_tenant_name, normalize_checked
from .refusals import is_db_down, refuse, refused_by_database, refused_by_postgres
from .service import ingest
from .spool import Spool, SpooledWebhook, describe
from .wire import parse_body, parse_json

Outcome = Literal["accepted", "duplicate", "ignored", "spooled"]
log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    outcome: Outcome
    inbound_id: int | None = None
    reason: str | None = None


class WebhookReceiver:
    def __init__(
        self,
        sessionmaker: SessionMaker,
        redis: ArqRedis,
        tenants: TenantDirectory,
        spool: Spool,
        guard: failed_auth.FailedAuthGuard | None = None,
        keyring: WebhookKeyring | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._redis = redis
        self._tenants = tenants
        self._spool = spool
        self._guard = guard
        self._keyring = keyring
        self._ingest: Coalescer[PendingMessage, int | None] = Coalescer(
            partial(ingest_batch, sessionmaker)
        )
        self._enqueue = Coalescer(partial(quota.enqueue_paced, redis))

    async def handle(
        self,
        slug: str,
        connection: str,
        secret: str,
        read_body: Callable[[], Awaitable[bytes]],
        correlation_id: str,
        *,
        client_ip: str | None = None,
    ) -> Received:
        """One webhook request; raises NotFound, Unauthorized, InvalidInput or (for a source
        that keeps failing authentication) TooManyRequests to refuse it."""
        secret_hash = hash_webhook_secret(secret)
        guard = self._guard if client_ip is not None else None
        if guard is not None and client_ip is not None:
            wait = guard.throttled_for(client_ip)
            if wait is not None and not self._known_good(slug, connection, secret_hash):
                guard.refused()
                raise TooManyRequests(wait)
        try:
            try:
                tenant = await self._tenants.by_slug(slug) if is_tenant_name(slug) else None
            except Exception as exc:
                await unverified.admit(self._keyring, slug, connection, secret_hash)
                _log_failure("webhook.spooled_unverified", slug, exc)
                return await self._spool_unverified(
                    slug, connection, secret_hash, await read_body(), correlation_id
                )
            tenant = self._authorize(tenant, connection, secret_hash)
        except (NotFound, Unauthorized):
            if guard is not None and client_ip is not None:
                wait = await guard.failed(client_ip)
                if wait is not None:  # this failure spent the budget
                    raise TooManyRequests(wait) from None
            raise
        return await self.receive(tenant, connection, await read_body(), correlation_id)

    def _known_good(self, slug: str, connection: str, secret_hash: str) -> bool:
        """Memory only: does the path match a tenant this process already knows?"""
        tenant = self._tenants.peek(slug)
        return (
            tenant is not None
            and tenant.enabled
            and has_connection(tenant.spec, connection)
            and matches_any_hash(secret_hash, list(tenant.webhook_secret_hashes))
        )

    @staticmethod
    def _authorize(tenant: TenantConfig | None, connection: str, secret_hash: str) -> TenantConfig:
        if tenant is None or not tenant.enabled:
            counted("unknown", "unknown_tenant")
            raise NotFound("unknown tenant")
        if not matches_any_hash(secret_hash, list(tenant.webhook_secret_hashes)):
            counted(tenant.slug, "unauthorized")
            raise Unauthorized()
        if not has_connection(tenant.spec, connection):
            counted(tenant.slug, "unknown_connection")
            raise NotFound(f"unknown connection {connection!r} for this tenant")
        return tenant

    async def _spool_unverified(
        self, slug: str, connection: str, secret_hash: str, body: bytes, correlation_id: str
    ) -> Received:
        payload = parse_json(body)
        normalized = normalize_checked(payload)
        if isinstance(normalized, Ignored):
            return Received("ignored", reason=normalized.reason)
        record = SpooledWebhook(slug, connection, payload, correlation_id, secret_hash=secret_hash)
        return await self._spool_record(record)

    async def _spool_record(self, record: SpooledWebhook) -> Received:
        await self._spool.append(record)
        counted(record.tenant, "spooled")
        return Received("spooled")

    async def receive(
        self,
        tenant: TenantConfig,
        connection: str,
        body: bytes,
        correlation_id: str,
        *,
        replaying: bool = False,
    ) -> Received:
        """Normalize and store an authenticated request's body. Replaying, a failure to store
        raises (the spool keeps the record); otherwise the message is spooled."""
        try:
            payload, payload_json = parse_body(body)
            normalized = normalize_checked(payload)
        except InvalidInput as exc:
            raise refuse(tenant.slug, exc) from None
        if isinstance(normalized, Ignored):
            counted(tenant.slug, "ignored")
            if normalized.reason == "from_me":
                await self._note_presence(tenant, connection, payload)
            return Received("ignored", reason=normalized.reason)
        try:
            inbound_id = await self._store(
                tenant, connection, normalized, payload, correlation_id, payload_json
            )
        except Exception as exc:
            if refused_by_postgres(exc):  # storing it again fails the same way
                raise refuse(tenant.slug, refused_by_database()) from None
            if replaying:
                raise
            _log_failure("webhook.spooled", tenant.slug, exc)
            return await self._spool_record(
                SpooledWebhook(tenant.slug, connection, payload, correlation_id)
            )
        try:
            return await self._schedule(tenant, inbound_id, correlation_id)
        except Exception as exc:  # stored and committed: the sweeper enqueues it
            log.error("webhook.schedule_failed", tenant=tenant.slug, **describe(exc))
            return Received("accepted", inbound_id=inbound_id)

    async def cloud_api(
        self, slug: str, body: bytes, signature: str | None, correlation_id: str
    ) -> dict[str, int]:
        """One Cloud API notification for ``slug``: checked against the tenant's app secret
        before it is parsed, every message stored and scheduled (or refused alone), every
        status applied. When it cannot be stored (Postgres down, a bug) it raises
        :class:`Unavailable`, never a 500: Meta redelivers, and duplicates drop."""
        try:
            tenant = await self._tenants.by_slug(slug) if is_tenant_name(slug) else None
            if tenant is None or not tenant.enabled or tenant.spec.meta is None:
                counted("unknown", "unknown_tenant")
                raise NotFound("unknown tenant")
            if not meta_webhook.signed_by(
                tenant.credentials.meta_app_secret or "", body, signature
            ):
                counted(tenant.slug, "unauthorized")
                raise Unauthorized()
            try:
                batch = meta_webhook.parse(parse_json(body))
            except InvalidInput as exc:
                raise refuse(tenant.slug, exc) from None
            ours = batch.phone_number_id in (None, "", tenant.spec.meta.phone_number_id)
            outcomes = [
                await self._accept_one(tenant, message, raw, correlation_id)
                for message, raw in (batch.messages if ours else [])
            ]
            async with transaction(self._sessionmaker) as session:
                moved = await statuses.record(session, tenant.id, tenant.slug, batch.statuses)
        except AtendeError:
            raise
        except Exception as exc:
            _log_failure("cloud_api.not_stored", slug, exc)
            why = "Postgres is unreachable" if is_db_down(exc) else "it was not stored"
            raise Unavailable(f"{why}; Meta will redeliver") from None
        ignored = batch.ignored + (0 if ours else len(batch.messages))
        counts = {
            "accepted": outcomes.count("accepted"),
            "duplicates": outcomes.count("duplicate"),
            "statuses": moved,
            "ignored": ignored,
        }
        if refused := outcomes.count("refused"):  # named only when it happened
            counts["refused"] = refused
        return counts

    async def _accept_one(
        self,
        tenant: TenantConfig,
        message: NormalizedMessage,
        raw: dict[str, Any],
        correlation_id: str,
    ) -> str:
        """One message of a Cloud API batch: a message that cannot be stored is refused (and
        counted) alone; the batch's others are stored."""
        try:
            check_fits(message)
            received = await self.accept(tenant, META_CONNECTION, message, raw, correlation_id)
        except InvalidInput as exc:
            refuse(tenant.slug, exc)
            return "refused"
        except Exception as exc:
            if not refused_by_postgres(exc):
                raise
            refuse(tenant.slug, refused_by_database())
            return "refused"
        return received.outcome

    async def accept(
        self,
        tenant: TenantConfig,
        connection: str,
        message: NormalizedMessage,
        payload: dict[str, Any],
        correlation_id: str,
    ) -> Received:
        """Store and schedule a message another channel already authenticated and normalized
        (the Cloud API's). Postgres down raises: that sender redelivers what we did not take."""
        inbound_id = await self._store(tenant, connection, message, payload, correlation_id)
        return await self._schedule(tenant, inbound_id, correlation_id)

    async def _schedule(
        self, tenant: TenantConfig, inbound_id: int | None, correlation_id: str
    ) -> Received:
        if inbound_id is None:
            counted(tenant.slug, "duplicate")
            return Received("duplicate")
        job = jobs.InboundJob(inbound_id, tenant.spec.conversation.debounce_seconds, correlation_id)
        await self._enqueue.submit(quota.PacedJob(job, tenant))
        counted(tenant.slug, "accepted")
        return Received("accepted", inbound_id=inbound_id)

    async def _note_presence(
        self, tenant: TenantConfig, connection: str, payload: dict[str, Any]
    ) -> None:
        """A person answering pauses the bot (:mod:`services.core.handoff.presence`). Best
        effort: with Postgres down the signal is lost, and the ticket watcher still sees a
        person take the ticket."""
        message = business_message(payload)
        if message is None:
            return
        try:
            async with transaction(self._sessionmaker) as session:
                presence = await note_business_message(session, tenant, connection, message)
        except Exception as exc:
            if is_db_down(exc):
                log.warning("webhook.presence_lost", tenant=tenant.slug, error=type(exc).__name__)
            else:  # the person's message is theirs to resend; this one is still answered
                log.error("webhook.presence_failed", tenant=tenant.slug, **describe(exc))
            return
        if presence in ("human", "resumed"):
            log.info("webhook.presence", tenant=tenant.slug, presence=presence)

    async def _store(
        self,
        tenant: TenantConfig,
        connection: str,
        message: NormalizedMessage,
        payload: dict[str, Any],
        correlation_id: str,
        payload_json: str | None = None,  # ``payload`` as JSON text, if the caller has it
    ) -> int | None:
        """Committed before returning: the message id, or None for a duplicate."""
        subscriptions = tuple(
            s.name for s in tenant.spec.events.wanting(EventType.MESSAGE_RECEIVED)
        )
        if message.lid is None and message.phone is not None:
            pending = PendingMessage(
                tenant.id,
                connection,
                message,
                payload_json if payload_json is not None else payload_text(payload),
                correlation_id,
                tenant.slug,
                subscriptions,
            )
            return await self._ingest.submit(pending)
        async with transaction(self._sessionmaker) as session:  # @lid contacts: linking rules
            ingested = await ingest(
                session,
                tenant_id=tenant.id,
                connection=connection,
                message=message,
                payload=payload,
                correlation_id=correlation_id,
            )
            if ingested.inbound_id is not None:
                await events.record(
                    session,
                    [
                        received_event(tenant.id, tenant.slug, name, ingested.inbound_id,
                                       connection, message)
                        for name in subscriptions
                    ],
                )  # fmt: skip
        return ingested.inbound_id

    async def replay_spool(self) -> int:
        """One round of moving spooled webhooks into Postgres (a background task's work)."""
        return (await self._spool.replay(self._replay)).replayed

    async def _replay(self, record: SpooledWebhook) -> bool:
        """True once the record is dealt with; False while Postgres is down; raises when
        storing it fails otherwise (the spool keeps it and tries again)."""
        try:
            known = is_tenant_name(record.tenant)
            tenant = await self._tenants.by_slug(record.tenant) if known else None
            if record.secret_hash is not None:  # spooled before it could be authenticated
                try:
                    tenant = self._authorize(tenant, record.connection, record.secret_hash)
                except (NotFound, Unauthorized):
                    log.warning("spool.rejected", tenant=record.tenant)
                    return True
            if tenant is None:
                log.error("spool.unknown_tenant", tenant=record.tenant)
                return True
            body = json.dumps(record.payload).encode()
            await self.receive(
                tenant, record.connection, body, record.correlation_id, replaying=True
            )
        except InvalidInput:
            log.error("spool.invalid", tenant=record.tenant)
            return True
        except Exception as exc:
            if is_db_down(exc):
                return False
            raise
        return True


def _log_failure(event: str, slug: str, exc: BaseException) -> None:
    if is_db_down(exc):
        log.error(event, tenant=slug, error=type(exc).__name__)
    else:  # a bug: where it happened, never the error's text (it may quote the message)
        log.error(event, tenant=slug, unexpected=True, **describe(exc))
