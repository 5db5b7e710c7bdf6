"""A person in the conversation: the business's own messages, as Whaticket forwards them.

Whatever surface a person answers from (the Whaticket screen, the WhatsApp phone), the message
reaches the webhook as ``fromMe``. The bot's own replies come back the same way, so a message
equal to something the bot sent recently is its echo. Anything else is a person: the bot goes
silent at once (a handoff with trigger ``human``), or, when a handoff is active, the person's
activity is noted for the silence rule. The agent sending :data:`RESUME_COMMAND` gives the
conversation back to the bot explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.channels.baileys import BusinessMessage
from services.core.metrics import HUMAN_MESSAGES
from services.core.models import Contact, Conversation, OutboundMessage
from services.core.tenants.directory import TenantConfig

from . import service
from .messages import is_wait_notice
from .triggers import Trigger, fold

RESUME_COMMAND = "#bot"
ECHO_WINDOW = timedelta(minutes=30)

Presence = Literal["unknown", "echo", "human", "resumed"]


async def _conversation(
    session: AsyncSession, tenant_id: int, connection: str, message: BusinessMessage
) -> int | None:
    contact = Contact.phone == message.phone if message.phone else Contact.lid == message.lid
    found: int | None = await session.scalar(
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.tenant_id == tenant_id, Conversation.connection == connection, contact)
    )
    return found


async def _is_echo(
    session: AsyncSession, tenant: TenantConfig, conversation_id: int, text: str
) -> bool:
    if is_wait_notice(tenant.spec, text, datetime.now(UTC)):
        return True
    folded = fold(text)
    recent = await session.scalars(
        select(OutboundMessage.text).where(
            OutboundMessage.conversation_id == conversation_id,
            OutboundMessage.created_at >= datetime.now(UTC) - ECHO_WINDOW,
        )
    )
    return any(fold(sent) == folded for sent in recent)


async def note_business_message(
    session: AsyncSession, tenant: TenantConfig, connection: str, message: BusinessMessage
) -> Presence:
    conversation_id = await _conversation(session, tenant.id, connection, message)
    if conversation_id is None:  # the business wrote first: nothing for the bot to stop
        return "unknown"
    if message.text.strip().casefold() == RESUME_COMMAND:
        resumed = await service.resume(
            session, conversation_id, resolution="command", tenant_slug=tenant.slug
        )
        return "resumed" if resumed else "echo"
    if await _is_echo(session, tenant, conversation_id, message.text):
        return "echo"
    HUMAN_MESSAGES.labels(tenant.slug).inc()
    now = datetime.now(UTC)
    if not await service.note_human(session, conversation_id, now):
        await service.request_handoff(
            session,
            tenant,
            conversation_id=conversation_id,
            turn_id=None,
            trigger=Trigger.HUMAN,
            reason="a person answered the customer",
            summary={"trigger": Trigger.HUMAN},
            human_seen_at=now,
        )
    return "human"
