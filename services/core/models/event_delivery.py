from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class EventDelivery(IdMixin, TimestampMixin, Base):
    """One workflow event for one subscription: written in the transaction of what happened,
    then sent (and retried with backoff) by the workers. ``message_id`` is the Standard
    Webhooks ``webhook-id``, the same on every retry so receivers can deduplicate."""

    __tablename__ = "event_deliveries"
    __table_args__ = (
        Index(
            "ix_event_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_event_deliveries_tenant_created", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    subscription: Mapped[str] = mapped_column(String(63))
    event_type: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    last_status: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EventSubscriptionState(Base):
    """How a subscription is doing: failures in a row, and when it was switched off for them.
    The spec says what a tenant wants; this says what the endpoint has shown."""

    __tablename__ = "event_subscription_states"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "subscription"),)

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    subscription: Mapped[str] = mapped_column(String(63))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
