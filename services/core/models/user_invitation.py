from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class UserInvitation(IdMixin, TimestampMixin, Base):
    """An e-mail invited to the panel with a role: a one-time link, of which only the SHA-256
    is stored. pending → accepted (the user exists, ``user_id``) or revoked; past
    ``expires_at`` a pending one opens nothing."""

    __tablename__ = "user_invitations"

    email: Mapped[str] = mapped_column(String(200), index=True)  # stored lower-cased
    role: Mapped[str] = mapped_column(String(32))
    tenant_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id"))
