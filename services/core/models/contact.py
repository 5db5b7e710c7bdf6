from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class Contact(IdMixin, TimestampMixin, Base):
    """One customer of a tenant, whether WhatsApp names them by phone number or by ``@lid``."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone"),
        UniqueConstraint("tenant_id", "lid"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    lid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    # Set by the tenant's workflow (action API): where a reply goes by e-mail when WhatsApp fails.
    email: Mapped[str | None] = mapped_column(String(254))
