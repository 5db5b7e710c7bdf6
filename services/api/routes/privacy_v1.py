"""``/api/v1/tenants/{slug}/contacts/…``: the panel's customer data page as JSON, for tenant
and platform admins signed in to ``/api/v1`` (the same roles, scope and audit as the page)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.api import privacy_operations
from services.api.deps import StateDep
from services.api.security import ApiUser, ensure
from services.core.auth.roles import Action, scope_of

from .actions import ContactRef
from .privacy_actions import ForgetResult

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.post("/tenants/{slug}/contacts/export")
async def export_contact(
    state: StateDep, principal: ApiUser, slug: str, body: ContactRef
) -> dict[str, Any]:
    """Everything stored about the customer (docs/privacy.md); audited as ``contact.exported``."""
    ensure(principal, Action.VIEW_AUDIT, principal.tenant_scope())
    return await privacy_operations.export_contact(
        state, slug, body.phone, scope_of(principal), actor=principal.email
    )


@router.post("/tenants/{slug}/contacts/forget", response_model=ForgetResult)
async def forget_contact(
    state: StateDep, principal: ApiUser, slug: str, body: ContactRef
) -> ForgetResult:
    """Erase the customer from Postgres and Redis; audited as ``contact.forgotten``."""
    ensure(principal, Action.VIEW_AUDIT, principal.tenant_scope())
    done = await privacy_operations.forget_contact(
        state, slug, body.phone, scope_of(principal), actor=principal.email
    )
    return ForgetResult.model_validate(done.as_dict())
