"""The chat simulator: type as a customer of a tenant; the real pipeline answers (sandbox)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.api.deps import StateDep
from services.api.operations import say, simulated_tenant, visible_tenants
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Action
from services.core.simulator.service import transcript

from .context import render
from .formatting import tenant_zone
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/simulator", response_class=HTMLResponse)
async def simulator_page(
    request: Request,
    state: StateDep,
    principal: PageUser,
    tenant: str = Query("", max_length=63),
) -> HTMLResponse:
    tenants = [
        t for t in await visible_tenants(state, principal) if principal.can(Action.SIMULATE, t.id)
    ]
    chosen = next((t for t in tenants if t.slug == tenant), tenants[0] if tenants else None)
    lines = []
    if chosen is not None:
        async with state.sessionmaker() as session:
            lines = await transcript(session, tenant_id=chosen.id, user_id=principal.user_id)
    return render(
        request,
        state,
        principal,
        "simulator.html",
        "simulator",
        tenants=tenants,
        chosen=chosen,
        lines=lines,
        zone=tenant_zone(chosen),
    )


@router.post("/simulator/{slug}/messages", response_class=HTMLResponse)
async def simulator_say(
    request: Request,
    state: StateDep,
    principal: PageUser,
    slug: str,
    text: Annotated[str, Form(max_length=4000)],
) -> Response:
    await check_form_csrf(state, request, principal)
    tenant = await simulated_tenant(state, principal, slug)
    await say(state, principal, tenant, text)
    return await simulator_transcript(request, state, principal, slug)


@router.get("/simulator/{slug}/transcript", response_class=HTMLResponse)
async def simulator_transcript(
    request: Request, state: StateDep, principal: PageUser, slug: str
) -> HTMLResponse:
    """The thread as an HTML fragment, polled by the page."""
    tenant = await simulated_tenant(state, principal, slug)
    async with state.sessionmaker() as session:
        lines = await transcript(session, tenant_id=tenant.id, user_id=principal.user_id)
    context = {"lines": lines, "zone": tenant_zone(tenant)}
    return templates.TemplateResponse(request, "_transcript.html", context)
