from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class DeadLetter(IdMixin, TimestampMixin, Base):
    """A turn that could not complete, with what an operator needs to understand and replay it."""

    __tablename__ = "dead_letters"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    turn_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("turns.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))
    error_class: Mapped[str] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    context: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="open")
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
