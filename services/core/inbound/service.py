"""Durable ingest: a customer message is in Postgres before the webhook answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.channels.baileys import NormalizedMessage
from services.core.conversations.contacts import resolve_contact
from services.core.conversations.service import touch_conversation
from services.core.models import InboundMessage


@dataclass(frozen=True, slots=True)
class Ingested:
    inbound_id: int | None  # None: a duplicate of a message already stored

    @property
    def duplicate(self) -> bool:
        return self.inbound_id is None


async def ingest(
    session: AsyncSession,
    *,
    tenant_id: int,
    connection: str,
    message: NormalizedMessage,
    payload: dict[str, Any],
    correlation_id: str,
) -> Ingested:
    contact_id = await resolve_contact(
        session, tenant_id, phone=message.phone, lid=message.lid, name=message.push_name
    )
    conversation_id = await touch_conversation(session, tenant_id, contact_id, connection)
    stmt = (
        insert(InboundMessage)
        .values(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            provider_msg_id=message.provider_msg_id,
            kind=message.kind,
            text=message.text,
            payload=payload,
            sent_at=message.sent_at,
            correlation_id=correlation_id,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "provider_msg_id"])
        .returning(InboundMessage.id)
    )
    inbound_id = (await session.execute(stmt)).scalar_one_or_none()
    return Ingested(inbound_id)
