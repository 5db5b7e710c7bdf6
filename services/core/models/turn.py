from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin

OPEN_TURN_STATES = ("pending", "replying")
TERMINAL_TURN_STATES = ("answered", "superseded", "dead", "expired", "human")


class Turn(IdMixin, TimestampMixin, Base):
    """One answer to one burst of customer messages.

    pending → replying (reply stored) → answered; pending → superseded (a newer message made the
    answer stale; its messages go to the next turn); any → dead (dead letter written);
    expired: a paused tenant's backlog older than its context TTL, closed unanswered on resume;
    human: messages that arrived while a person had the conversation (theirs to answer)."""

    __tablename__ = "turns"
    __table_args__ = (
        Index("ix_turns_status_updated_at", "status", "updated_at"),
        Index("ix_turns_tenant_created", "tenant_id", "created_at"),  # retention
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    conversation_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("conversations.id"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    correlation_id: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    error_class: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The ids (knowledge_entries.id) of the snippets the reply was produced from.
    knowledge_ids: Mapped[list[int] | None] = mapped_column(JSONB)
