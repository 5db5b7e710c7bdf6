"""What every panel page needs: the principal, its CSRF token, and the tenants it may see."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.api.state import AppState
from services.core.auth.roles import Action, Principal
from services.core.models import Tenant
from services.core.tenants.queries import visible_tenants as tenant_rows

from .security import csrf_token
from .templating import templates


def scope_of(principal: Principal) -> list[int] | None:
    """Tenant ids this principal may see; None means every tenant (platform admin)."""
    tenant = principal.tenant_scope()
    return None if tenant is None else [tenant]


async def visible_tenants(state: AppState, principal: Principal) -> list[Tenant]:
    async with state.sessionmaker() as session:
        return await tenant_rows(session, scope_of(principal))


def render(
    request: Request,
    state: AppState,
    principal: Principal,
    template: str,
    section: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    base = {
        "principal": principal,
        "csrf": csrf_token(state, principal.session_id),
        "section": section,
        "can_audit": principal.can(Action.VIEW_AUDIT, principal.tenant_scope()),
        "flash": request.query_params.get("flash"),
        "flash_kind": request.query_params.get("kind"),
    }
    return templates.TemplateResponse(request, template, base | context, status_code=status_code)
