"""Messages typed in the panel as a customer, and what the bot answered them.

Each panel user has one simulated customer per tenant (a number that cannot exist: country 55,
area code 00), on the simulator connection, so its conversation, memory and handoffs are its
own and its replies stay in the sandbox.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.channels.baileys import NormalizedMessage
from services.core.inbound.service import ingest
from services.core.models import Contact, Conversation, InboundMessage, OutboundMessage
from services.core.tenants.spec import SIMULATOR_CONNECTION

MAX_TEXT = 4000


def simulator_phone(user_id: int) -> str:
    return f"5500{user_id:09d}"


@dataclass(frozen=True, slots=True)
class Line:
    role: str  # customer | bot
    text: str
    at: datetime
    status: str  # for the bot: pending, sending, sent…


async def send_as_customer(
    session: AsyncSession, *, tenant_id: int, user_id: int, text: str, correlation_id: str
) -> int:
    """Store the message like a webhook would; the caller enqueues the turn after commit."""
    message = NormalizedMessage(
        provider_msg_id=f"sim-{uuid.uuid4().hex}",
        kind="text",
        text=text.strip()[:MAX_TEXT],
        phone=simulator_phone(user_id),
        lid=None,
        push_name="Simulador",
        sent_at=datetime.now(UTC),
    )
    ingested = await ingest(
        session,
        tenant_id=tenant_id,
        connection=SIMULATOR_CONNECTION,
        message=message,
        payload={"simulator": True, "user_id": user_id},
        correlation_id=correlation_id,
    )
    assert ingested.inbound_id is not None  # a fresh id is never a duplicate
    return ingested.inbound_id


async def transcript(session: AsyncSession, *, tenant_id: int, user_id: int) -> list[Line]:
    """The simulated conversation, oldest first (the last 100 lines)."""
    conversation_id = await session.scalar(
        select(Conversation.id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.connection == SIMULATOR_CONNECTION,
            Contact.phone == simulator_phone(user_id),
        )
    )
    if conversation_id is None:
        return []
    said = await session.execute(
        select(InboundMessage.text, InboundMessage.received_at)
        .where(InboundMessage.conversation_id == conversation_id)
        .order_by(InboundMessage.id.desc())
        .limit(100)
    )
    answered = await session.execute(
        select(OutboundMessage.text, OutboundMessage.created_at, OutboundMessage.status)
        .where(OutboundMessage.conversation_id == conversation_id)
        .order_by(OutboundMessage.id.desc())
        .limit(100)
    )
    lines = [Line("customer", text, at, "received") for text, at in said.all()]
    lines += [Line("bot", text, at, status) for text, at, status in answered.all()]
    return sorted(lines, key=lambda line: line.at)[-100:]
