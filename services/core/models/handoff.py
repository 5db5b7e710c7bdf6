from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin

ACTIVE_HANDOFF_STATES = ("requested", "transferred", "failed")
# The partial unique index's predicate, spelled once: ON CONFLICT must name it literally.
ACTIVE_HANDOFF_PREDICATE = text("status IN ('requested', 'transferred', 'failed')")


class Handoff(IdMixin, TimestampMixin, Base):
    """A conversation handed to the tenant's people, from the request to the bot's return.

    requested (the bot went silent) → transferred (the Whaticket ticket was moved) or failed
    (it could not be: the bot stays silent and the SLA alert tells someone) → resolved (ticket
    closed, human silence, or an explicit command gave the conversation back to the bot).
    At most one is active per conversation."""

    __tablename__ = "handoffs"
    __table_args__ = (
        Index(
            "ux_handoffs_active_conversation",
            "conversation_id",
            unique=True,
            postgresql_where=ACTIVE_HANDOFF_PREDICATE,
        ),
        Index("ix_handoffs_status", "status"),
        Index("ix_handoffs_tenant_created", "tenant_id", "created_at"),  # retention
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("conversations.id"))
    turn_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("turns.id"))
    trigger: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    # For the agent: intent, data the customer gave, what the bot tried, knowledge used.
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(BigInteger)
    queue_id: Mapped[int | None] = mapped_column(Integer)
    transferred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last sign of a person in the conversation (a message of theirs, the ticket taken).
    human_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sla_breached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(String(32))
    # The packet as the agent reads it (handoff/note.py), once per handoff: its text and who
    # wrote it (gemini | extractive), then where it went: posted (internal notes in the
    # Whaticket ticket), panel_only (the variant has no private place), failed; NULL: not yet.
    note_text: Mapped[str | None] = mapped_column(Text)
    note_source: Mapped[str | None] = mapped_column(String(16))
    note_status: Mapped[str | None] = mapped_column(String(16))
    note_detail: Mapped[str | None] = mapped_column(Text)
    note_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    note_posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A note job at work on it (a lease: a copy of the job finding it fresh leaves it alone).
    note_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
