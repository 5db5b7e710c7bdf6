"""Panel users as the CLI lists and seeds them (creating one is :func:`.sessions.create_user`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Tenant, User

from .sessions import normalize_email


async def user_exists(session: AsyncSession, email: str) -> bool:
    address = normalize_email(email)
    return await session.scalar(select(User.id).where(User.email == address)) is not None


async def users_with_tenants(session: AsyncSession) -> list[tuple[User, str | None]]:
    """Every user by id, with the slug of its tenant (None for a platform admin)."""
    rows = await session.execute(
        select(User, Tenant.slug).outerjoin(Tenant, Tenant.id == User.tenant_id).order_by(User.id)
    )
    return [(user, slug) for user, slug in rows.all()]
