from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Integer, LargeBinary, String, Text, false
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, TimestampMixin


class Tenant(IdMixin, TimestampMixin, Base):
    """A client company. ``spec`` is the validated BotTenant spec (secret references only);
    resolved secret values live encrypted in ``credentials`` and webhook secrets only as hashes."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    spec_hash: Mapped[str] = mapped_column(String(64))
    webhook_secret_hashes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Where the spec comes from: "<namespace>/<name>" of a BotTenant, or "file" for the CLI.
    source: Mapped[str | None] = mapped_column(String(320))
    # Operational switches: set by operators at run time, never by the spec.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    pause_reason: Mapped[str | None] = mapped_column(Text)
    model_override: Mapped[str | None] = mapped_column(String(64))
