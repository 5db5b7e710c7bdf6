from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin


class InboundMessage(IdMixin, Base):
    """A customer message, stored before the webhook answers. It is the outbox of the turn:
    ``turn_id`` stays empty until a turn takes the message."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider_msg_id"),
        Index(
            "ix_inbound_messages_unassigned",
            "conversation_id",
            "id",
            postgresql_where="turn_id IS NULL",
        ),
        Index(  # retention: the payloads not erased yet
            "ix_inbound_messages_raw_payload",
            "tenant_id",
            "received_at",
            postgresql_where="payload <> '{}'::jsonb",
        ),
        Index("ix_inbound_messages_tenant_received", "tenant_id", "received_at"),  # charts
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    conversation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("conversations.id"))
    provider_msg_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    turn_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("turns.id"), index=True)
    correlation_id: Mapped[str] = mapped_column(String(32))
