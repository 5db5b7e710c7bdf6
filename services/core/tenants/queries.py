"""Tenant rows as the panel, the admin API and the CLI look them up: by slug, or every one the
caller's scope may see."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import NotFound
from services.core.models import Tenant


async def visible_tenants(session: AsyncSession, scope: Collection[int] | None) -> list[Tenant]:
    """By slug; ``scope`` None means every tenant (platform admin)."""
    query = select(Tenant).order_by(Tenant.slug)
    if scope is not None:
        query = query.where(Tenant.id.in_(list(scope)))
    return list(await session.scalars(query))


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant:
    """The tenant named ``slug``, or :class:`NotFound` naming it."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


async def tenant_id_of(session: AsyncSession, slug: str) -> int:
    """Only the id: what a command needs to scope another domain's query."""
    tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound(f"no tenant {slug!r}")
    return int(tenant_id)


async def visible_tenant(session: AsyncSession, scope: Collection[int] | None, slug: str) -> Tenant:
    """The tenant named ``slug`` if the scope may see it; outside the scope it is NotFound, the
    same answer as a missing one, so names cannot be probed."""
    query = select(Tenant).where(Tenant.slug == slug)
    if scope is not None:
        query = query.where(Tenant.id.in_(list(scope)))
    tenant = await session.scalar(query)
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant
