from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, func, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class LlmUsage(Base):
    """Tokens a tenant spent on the model in one calendar month of its own timezone.

    One row per (tenant, month), grown by an atomic upsert after every model call; ``warned_at``
    is set once, when the month's use first reached the warning share of the budget."""

    __tablename__ = "llm_usage"

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), primary_key=True)
    # The first day of the month, in the tenant's timezone.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    output_tokens: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    warned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
