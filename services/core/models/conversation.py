from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class Conversation(IdMixin, TimestampMixin, Base):
    """The thread between a contact and a tenant on one Whaticket connection.

    ``lease_owner``/``lease_until`` serialize turns: one worker job at a time holds it."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("tenant_id", "contact_id", "connection"),
        # The panel's keyset pages, newest activity first (conversations/search.py).
        Index(
            "ix_conversations_tenant_activity",
            "tenant_id",
            text("coalesce(last_inbound_at, created_at) DESC"),
            text("id DESC"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    contact_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contacts.id"), index=True)
    connection: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), default="bot")
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The campaign the customer last arrived through (spec.campaigns, or "ad"), and when.
    campaign: Mapped[str | None] = mapped_column(String(63))
    campaign_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
