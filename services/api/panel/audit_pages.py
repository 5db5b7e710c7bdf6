"""The audit log, newest first, with a check that the hash chain is whole."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from services.api.deps import StateDep
from services.core.audit.service import verify
from services.core.auth.roles import Action
from services.core.models import AuditEvent

from .context import render
from .security import PageUser, ensure

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
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(200)
    if scope is not None:
        query = query.where(AuditEvent.tenant_id == scope)
    if action:
        query = query.where(AuditEvent.action == action)
    async with state.sessionmaker() as session:
        events = list(await session.scalars(query))
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
