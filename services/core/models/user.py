from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    """Someone who signs in to the panel. ``tenant_id`` is empty only for platform admins."""

    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(200), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The panel's language they chose ("pt_BR", "en"); None: their browser's, pt-BR by default.
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
