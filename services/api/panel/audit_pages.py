"""The audit log, newest first, with a check that the keyed hash chain is whole (rows under a
retired key are shown as not checked, never as intact)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import StateDep
from services.api.security import PageUser, ensure
from services.core.audit.service import recent_events, verify
from services.core.auth.roles import Action

from .context import render

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    state: StateDep,
    principal: PageUser,
    action: str = Query("", max_length=64),
) -> HTMLResponse:
    scope = principal.tenant_scope()
    ensure(principal, Action.VIEW_AUDIT, scope)
    async with state.sessionmaker() as session:
        events = await recent_events(session, tenant_id=scope, action=action, limit=200)
        chain = await verify(session) if scope is None else None
    return render(
        request,
        state,
        principal,
        "audit.html",
        "audit",
        events=events,
        chain=chain,
        action=action,
    )
