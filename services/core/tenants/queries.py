"""Tenant rows as the panel and the admin API list them, limited to the caller's scope."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Tenant


async def visible_tenants(session: AsyncSession, scope: Collection[int] | None) -> list[Tenant]:
    """By slug; ``scope`` None means every tenant (platform admin)."""
    query = select(Tenant).order_by(Tenant.slug)
    if scope is not None:
        query = query.where(Tenant.id.in_(list(scope)))
    return list(await session.scalars(query))
