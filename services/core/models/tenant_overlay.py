from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin


class TenantOverlay(IdMixin, Base):
    """A part of a tenant's spec its own admins edit in the panel (``spec.delegation``).

    One row per tenant and field (``knowledge``, ``messages``, ``businessHours``), its value in
    the spec's own camelCase shape. ``version`` counts the panel's edits: a form carries the
    version it was read at, and an edit made against an older one is refused as a conflict. The
    edits themselves, with what was there before, are in the audit log
    (``tenant.settings``)."""

    __tablename__ = "tenant_overlays"
    __table_args__ = (UniqueConstraint("tenant_id", "field"),)

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"))
    field: Mapped[str] = mapped_column(String(32))
    value: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
