"""Messages a tenant's workflow sends to a customer through the action API.

Like a turn's reply, the message is stored first (in the request's transaction) and sent by a
worker job enqueued after the commit:

* the caller's request key makes a repeated request return the same message, never a second;
  the same key with another text is refused (409) rather than guessed at;
* the job sends it through the one send state machine (:mod:`.sending`), as a turn's reply is
  sent: the attempt is marked before the request leaves, so a duplicate job finds the message
  claimed or sent, and one that may have reached Whaticket before a crash counts as ambiguous;
* transient failures retry with backoff behind the connection's breaker; then the message is
  ``failed`` (or ``unknown`` when it may have been delivered) with its reason, which the caller
  reads back;
* the sweeper re-enqueues a message whose job Redis lost.

A sent message joins the conversation's context, so the bot knows what the customer was told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.conversations import memory
from services.core.conversations.service import latest_conversation
from services.core.db import transaction
from services.core.errors import Conflict
from services.core.logging import get_logger
from services.core.models import Contact, Conversation, OutboundMessage
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from . import delivery, records, sending
from .sending import Stored, Unsent

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


async def _stored(session: AsyncSession, message_id: int) -> tuple[int, Stored] | None:
    """The message's tenant and the message as the send needs it."""
    row = (
        await session.execute(
            select(
                OutboundMessage.tenant_id,
                OutboundMessage.conversation_id,
                OutboundMessage.status,
                OutboundMessage.channel,
                Conversation.connection,
                Contact.phone,
                OutboundMessage.text,
                func.extract("epoch", func.now() - OutboundMessage.created_at),
            )
            .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(OutboundMessage.id == message_id, OutboundMessage.kind == KIND)
        )
    ).one_or_none()
    if row is None:
        return None
    tenant_id, conversation_id, status, channel, connection, phone, text, waited = row
    stored = Stored(
        outbound_id=message_id,
        conversation_id=conversation_id,
        status=status,
        channel=channel,
        connection=connection,
        phone=phone,
        email=None,  # a workflow's message goes by WhatsApp only
        text=text,
        waited_seconds=float(waited),
    )
    return tenant_id, stored


async def send(deps: Runtime, message_id: int) -> None:
    """The job: send the stored message once; safe to run twice or after a crash."""
    async with deps.sessionmaker() as session:
        found = await _stored(session, message_id)
    if found is None or found[1].status in _SENT_OR_GIVEN_UP:
        return
    tenant_id, message = found
    tenant = await deps.tenants.by_id(tenant_id)
    if tenant is None or not tenant.enabled:
        await _record_unsent(deps, message_id, "failed", "tenant_disabled")
        return
    outcome = await sending.send_stored(deps, tenant, message, holds_lease=False, falls_back=False)
    if isinstance(outcome, Unsent):
        await _record_unsent(deps, message_id, outcome.status, outcome.error.error_class)
        if outcome.retry:
            raise outcome.retry_later()
        return
    if outcome is not None:
        # The next turn rebuilds the context from Postgres, this message included (appending
        # here would race a turn that holds the conversation's lease).
        await memory.forget(deps.cache, message.conversation_id)


async def _record_unsent(deps: Runtime, message_id: int, status: str, error_class: str) -> None:
    """What the caller reads back: pending for a retry, or failed/unknown with the reason."""
    async with transaction(deps.sessionmaker) as session:
        await records.mark_unsent(session, message_id, status=status, error_class=error_class)
    log.warning(
        "workflow_message.unsent", message_id=message_id, status=status, error_class=error_class
    )


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
