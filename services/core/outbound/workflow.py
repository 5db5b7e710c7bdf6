"""Messages a tenant's workflow sends to a customer through the action API.

Like a turn's reply, the message is stored first (in the request's transaction) and sent by a
worker job enqueued after the commit:

* the caller's request key makes a repeated request return the same message, never a second;
  the same key with another text is refused (409) rather than guessed at;
* the job marks the attempt before the request leaves, so a duplicate job finds the message
  sent; an attempt that may have reached Whaticket before a crash is counted as ambiguous;
* transient failures retry with backoff behind the connection's breaker; then the message is
  ``failed`` with its reason, which the caller reads back;
* the sweeper re-enqueues a message whose job Redis lost.

A sent message joins the conversation's context, so the bot knows what the customer was told.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.conversations import memory
from services.core.conversations.service import latest_conversation
from services.core.db import transaction
from services.core.errors import Conflict, DependencyError, TransientError
from services.core.logging import get_logger
from services.core.metrics import AMBIGUOUS_SENDS, SENDS
from services.core.models import Contact, Conversation, OutboundMessage
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from . import delivery

log = get_logger(__name__)
KIND = "workflow"
_SENT_OR_GIVEN_UP = ("sent", "failed", "unknown")


@dataclass(frozen=True, slots=True)
class WorkflowMessage:
    id: int
    status: str
    conversation_id: int
    attempts: int
    last_error: str | None
    sent_at: datetime | None


def _view(row: OutboundMessage) -> WorkflowMessage:
    return WorkflowMessage(
        id=row.id,
        status=row.status,
        conversation_id=row.conversation_id,
        attempts=row.attempts,
        last_error=row.last_error,
        sent_at=row.sent_at,
    )


async def _by_key(
    session: AsyncSession, tenant_id: int, request_key: str
) -> OutboundMessage | None:
    return await session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.tenant_id == tenant_id, OutboundMessage.request_key == request_key
        )
    )


async def queue_message(
    session: AsyncSession, tenant: TenantConfig, *, phone: str, text: str, request_key: str
) -> tuple[WorkflowMessage, bool] | None:
    """The stored message and whether this request created it; None when no conversation with
    this phone exists (a workflow writes to customers who wrote first)."""
    existing = await _by_key(session, tenant.id, request_key)
    if existing is None:
        conversation_id = await latest_conversation(session, tenant.id, phone)
        if conversation_id is None:
            return None
        connection = await session.scalar(
            select(Conversation.connection).where(Conversation.id == conversation_id)
        )
        created = await session.scalar(
            insert(OutboundMessage)
            .values(
                turn_id=None,
                tenant_id=tenant.id,
                conversation_id=conversation_id,
                kind=KIND,
                channel=delivery.channel_of(tenant, str(connection)),
                text=text,
                status="pending",
                attempts=0,
                request_key=request_key,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "request_key"])
            .returning(OutboundMessage.id)
        )
        if created is not None:
            row = await session.get(OutboundMessage, created)
            assert row is not None
            return _view(row), True
        existing = await _by_key(session, tenant.id, request_key)  # a concurrent twin won
        assert existing is not None
    if existing.text != text:
        raise Conflict("this request key was already used for another message")
    return _view(existing), False


async def message_status(
    session: AsyncSession, tenant_id: int, message_id: int
) -> WorkflowMessage | None:
    row = await session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.id == message_id,
            OutboundMessage.tenant_id == tenant_id,
            OutboundMessage.kind == KIND,
        )
    )
    return _view(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class _Pending:
    status: str
    tenant_id: int
    conversation_id: int
    channel: str
    text: str
    connection: str
    phone: str | None
    waited_seconds: float


async def _pending(session: AsyncSession, message_id: int) -> _Pending | None:
    row = (
        await session.execute(
            select(
                OutboundMessage.status,
                OutboundMessage.tenant_id,
                OutboundMessage.conversation_id,
                OutboundMessage.channel,
                OutboundMessage.text,
                Conversation.connection,
                Contact.phone,
                func.extract("epoch", func.now() - OutboundMessage.created_at),
            )
            .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(OutboundMessage.id == message_id, OutboundMessage.kind == KIND)
        )
    ).one_or_none()
    return None if row is None else _Pending(*row[:-1], waited_seconds=float(row[-1]))


async def send(deps: Runtime, message_id: int) -> None:
    """The job: send the stored message once; safe to run twice or after a crash."""
    async with deps.sessionmaker() as session:
        pending = await _pending(session, message_id)
    if pending is None or pending.status in _SENT_OR_GIVEN_UP:
        return
    tenant = await deps.tenants.by_id(pending.tenant_id)
    if tenant is None or not tenant.enabled:
        await _give_up(deps, message_id, "tenant_disabled")
        return
    outgoing = delivery.Outgoing(
        outbound_id=message_id,
        conversation_id=pending.conversation_id,
        channel=pending.channel,
        connection=pending.connection,
        phone=pending.phone,
        email=None,  # a workflow's message goes by WhatsApp only
        text=pending.text,
    )
    breaker = deps.breaker(delivery.breaker_name(tenant, outgoing))
    wait = await delivery.breaker_wait(breaker, pending.channel)
    if wait is not None:
        if pending.waited_seconds > deps.settings.turn_give_up_after_seconds:
            await _give_up(deps, message_id, "whaticket_breaker_open")
            return
        raise RetryLater(wait + random.uniform(0, 1), "whaticket breaker open")
    attempts = await _claim(deps, message_id)
    if attempts is None:
        return  # another job is sending it right now, or it is done
    if pending.status == "sending":  # a job died mid-send: it may have gone out already
        AMBIGUOUS_SENDS.labels(tenant.slug).inc()
        log.warning("workflow_message.ambiguous_retry", message_id=message_id)
    try:
        response = await delivery.attempt(deps, tenant, breaker, outgoing)
    except DependencyError as exc:
        await _failed_attempt(deps, tenant, message_id, exc, attempts)
        return
    async with transaction(deps.sessionmaker) as session:
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(
                status="sent",
                sent_at=func.now(),
                provider_response=response,
                provider_message_id=delivery.provider_message_id(response),
            )
        )
    SENDS.labels(tenant.slug, pending.channel).inc()
    log.info("workflow_message.sent", message_id=message_id, attempt=attempts)
    # The next turn rebuilds the context from Postgres, this message included (appending here
    # would race a turn that holds the conversation's lease).
    await memory.forget(deps.cache, pending.conversation_id)


async def _claim(deps: Runtime, message_id: int) -> int | None:
    """Mark the attempt before the request leaves, unless another job holds a fresh claim; a
    claim older than ``stuck_after_seconds`` belongs to a job that died."""
    stale = func.now() - timedelta(seconds=deps.settings.stuck_after_seconds)
    async with transaction(deps.sessionmaker) as session:
        attempts: int | None = await session.scalar(
            update(OutboundMessage)
            .where(
                OutboundMessage.id == message_id,
                or_(
                    OutboundMessage.status == "pending",
                    and_(OutboundMessage.status == "sending", OutboundMessage.updated_at < stale),
                ),
            )
            .values(status="sending", attempts=OutboundMessage.attempts + 1)
            .returning(OutboundMessage.attempts)
        )
    return attempts


async def _failed_attempt(
    deps: Runtime, tenant: TenantConfig, message_id: int, exc: DependencyError, attempts: int
) -> None:
    retry = isinstance(exc, TransientError) and attempts < deps.settings.send_max_attempts
    if retry and exc.ambiguous:  # the retry may deliver it a second time
        AMBIGUOUS_SENDS.labels(tenant.slug).inc()
    # Given up after an outcome we could not know: "unknown", never "failed".
    status = "pending" if retry else ("unknown" if exc.ambiguous else "failed")
    async with transaction(deps.sessionmaker) as session:
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(status=status, last_error=exc.error_class)
        )
    log.warning(
        "workflow_message.send_failed",
        message_id=message_id,
        error_class=exc.error_class,
        attempt=attempts,
        retry=retry,
    )
    if retry:
        raise RetryLater(max(backoff(attempts, base=2.0), exc.retry_after or 0), exc.error_class)


async def _give_up(deps: Runtime, message_id: int, error_class: str) -> None:
    async with transaction(deps.sessionmaker) as session:
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status != "sent")
            .values(status="failed", last_error=error_class)
        )
    log.warning("workflow_message.given_up", message_id=message_id, error_class=error_class)


async def stuck_messages(session: AsyncSession, stuck_after: float) -> list[int]:
    """Workflow messages still unsent well after they were stored or last tried: their job is
    gone (Redis lost it, or the enqueue after the commit failed)."""
    cutoff = func.now() - timedelta(seconds=stuck_after)
    return list(
        await session.scalars(
            select(OutboundMessage.id)
            .where(
                OutboundMessage.kind == KIND,
                OutboundMessage.status.in_(("pending", "sending")),
                OutboundMessage.updated_at < cutoff,
            )
            .order_by(OutboundMessage.id)
            .limit(500)
        )
    )
