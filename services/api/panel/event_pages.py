"""Workflow event deliveries, newest first, and the subscriptions switched off for failing."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.api.deps import StateDep
from services.api.security import PageUser, ensure
from services.core import events
from services.core.auth.roles import Action

from .context import render
from .formatting import zone_book

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/events", response_class=HTMLResponse)
async def events_page(request: Request, state: StateDep, principal: PageUser) -> HTMLResponse:
    scope = principal.tenant_scope()
    ensure(principal, Action.VIEW, scope)
    async with state.sessionmaker() as session:
        deliveries, switched_off = await events.delivery_log(session, scope)
    zones = await zone_book(state, principal)
    return render(
        request,
        state,
        principal,
        "events.html",
        "events",
        deliveries=deliveries,
        switched_off=switched_off,
        zones=zones,
    )
