from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class OutboundMessage(IdMixin, TimestampMixin, Base):
    """A message to a customer, stored before it is sent so a retry re-sends the same text:
    the reply of a turn, or (``kind`` ``workflow``, no turn) one a tenant's workflow asked for
    through the action API, where ``request_key`` makes the request idempotent.

    pending → sending → sent; ``unknown`` after an ambiguous failure (the remote end may have
    delivered it); ``failed`` when it was given up."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "request_key"),
        Index("ix_outbound_messages_tenant_created", "tenant_id", "created_at"),  # retention
        Index(
            "ix_outbound_messages_provider_response",
            "tenant_id",
            "created_at",
            postgresql_where="provider_response IS NOT NULL",
        ),
    )

    turn_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("turns.id"), unique=True)
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    conversation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("conversations.id"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="reply")
    channel: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    request_key: Mapped[str | None] = mapped_column(String(128))
    # The Cloud API's id for the sent message (wamid), and the last status Meta reported.
    provider_message_id: Mapped[str | None] = mapped_column(String(128), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(200))
