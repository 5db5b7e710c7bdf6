"""The panel's overlay over a BotTenant: the delegated fields' edits, and the spec in force.

A field listed in ``spec.delegation.panelOwns`` is owned by the panel. Until a tenant admin
edits it, the BotTenant's value is used (it seeds the panel's form); the first edit stores the
whole field in ``tenant_overlays`` and from then on that row is the field's value, whatever the
BotTenant says. ``apply_tenant`` (the operator and ``atende tenants apply``) stores the
*effective* spec in ``tenants.spec``: the BotTenant's, with every owned-and-edited field taken
from its overlay, so turns, the knowledge index and the panel all read one spec, and a re-apply
never undoes a panel edit. ``tenants.spec_hash`` stays the fingerprint of the BotTenant alone:
a panel edit does not make the next apply of the same resource an update.

A field taken out of ``panelOwns`` goes back to the platform: the next apply drops its overlay
(the audit log keeps every edit, with what it replaced) and the BotTenant's value is used again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit
from services.core.errors import ManifestError
from services.core.models import Tenant, TenantOverlay

from .delegation import Delegable
from .spec import BotTenantSpec

RETURNED = "tenant.settings_returned"  # audit action: a field left panelOwns, its overlay dropped


class OverlayRefused(ManifestError):
    """The BotTenant no longer accepts a panel edit (it turned off what a fixed message names)."""


@dataclass(frozen=True, slots=True)
class Owned:
    """A delegated field the panel has edited: what ``status.panelOwned`` lists."""

    field: Delegable
    version: int
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, row: TenantOverlay) -> Owned:
        return cls(Delegable(row.field), row.version, row.updated_by, row.updated_at)

    def status(self) -> dict[str, str]:
        at = self.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"field": self.field.value, "updatedBy": self.updated_by, "updatedAt": at}


def field_value(spec: BotTenantSpec, field: Delegable) -> dict[str, Any]:
    """The field as the overlay stores it (the spec's camelCase JSON): for ``knowledge`` only
    its entries, the FAQ (how many entries a prompt gets stays the platform's)."""
    match field:
        case Delegable.KNOWLEDGE:
            entries = spec.knowledge.entries
            return {"entries": [e.model_dump(mode="json", by_alias=True) for e in entries]}
        case Delegable.MESSAGES:
            return spec.messages.model_dump(mode="json", by_alias=True, exclude_none=True)
        case Delegable.BUSINESS_HOURS:
            return spec.business_hours.model_dump(mode="json", by_alias=True)


def with_value(spec: dict[str, Any], field: Delegable, value: Mapping[str, Any]) -> dict[str, Any]:
    """A spec's JSON with ``field`` replaced by ``value`` (not validated)."""
    out = dict(spec)
    if field is Delegable.KNOWLEDGE:
        out["knowledge"] = {**(out.get("knowledge") or {}), "entries": value.get("entries", [])}
    else:
        out[field.value] = dict(value)
    return out


def effective(
    spec: BotTenantSpec, overlays: Mapping[Delegable, Mapping[str, Any]]
) -> BotTenantSpec:
    """``spec`` with each field it delegates taken from ``overlays``; :class:`OverlayRefused`
    when the result is not a valid spec (the resource took away what an edit relies on)."""
    owned = {f: v for f, v in overlays.items() if spec.delegation.owns(f)}
    if not owned:
        return spec
    data = spec.model_dump(mode="json", by_alias=True)
    for field, value in owned.items():
        data = with_value(data, field, value)
    try:
        return BotTenantSpec.model_validate(data)
    except ValidationError as exc:
        fields = ", ".join(f"spec.{f.value}" for f in owned)
        problems = [
            f"{fields} edited in the panel (spec.delegation.panelOwns) no longer fit this "
            f"resource: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise OverlayRefused(problems) from None


async def overlays(session: AsyncSession, tenant_id: int) -> dict[Delegable, TenantOverlay]:
    rows = await session.scalars(select(TenantOverlay).where(TenantOverlay.tenant_id == tenant_id))
    return {Delegable(row.field): row for row in rows}


async def effective_for(
    session: AsyncSession, tenant_id: int, spec: BotTenantSpec
) -> BotTenantSpec:
    """What an apply of ``spec`` would put in force, read only (the dry run's diff)."""
    rows = await overlays(session, tenant_id)
    return effective(spec, {f: r.value for f, r in rows.items()})


async def for_apply(
    session: AsyncSession, tenant_id: int | None, spec: BotTenantSpec, *, actor: str
) -> tuple[BotTenantSpec, tuple[Owned, ...]]:
    """In an apply's transaction: the spec to store, and the fields the panel owns and has
    edited. An overlay whose field left ``panelOwns`` is dropped here (audited)."""
    if tenant_id is None:
        return spec, ()
    rows = await overlays(session, tenant_id)
    kept: dict[Delegable, TenantOverlay] = {}
    for field, row in rows.items():
        if spec.delegation.owns(field):
            kept[field] = row
            continue
        await session.delete(row)
        details = {"field": field.value, "version": row.version, "updated_by": row.updated_by}
        await audit.record(
            session, actor=actor, action=RETURNED, tenant_id=tenant_id, details=details
        )
    await session.flush()
    in_force = effective(spec, {f: r.value for f, r in kept.items()})
    return in_force, tuple(Owned.of(row) for _, row in sorted(kept.items()))


async def panel_owned(session: AsyncSession, tenant_id: int) -> tuple[Owned, ...]:
    """The fields the panel has edited (for the operator's status)."""
    rows = await overlays(session, tenant_id)
    return tuple(Owned.of(row) for _, row in sorted(rows.items()))


async def panel_owned_of(session: AsyncSession, slug: str, source: str) -> tuple[Owned, ...] | None:
    """What ``status.panelOwned`` of the BotTenant ``source`` says now; None when it owns no
    tenant named ``slug`` (the operator's periodic refresh, after edits made in the panel)."""
    tenant_id = await session.scalar(
        select(Tenant.id).where(Tenant.slug == slug, Tenant.source == source)
    )
    return None if tenant_id is None else await panel_owned(session, tenant_id)
