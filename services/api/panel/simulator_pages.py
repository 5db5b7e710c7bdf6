"""The chat simulator: type as a customer of a tenant; the real pipeline answers (sandbox)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.api.deps import StateDep
from services.api.state import AppState
from services.core import jobs
from services.core.auth.roles import Action, Principal
from services.core.db import transaction
from services.core.errors import InvalidInput, NotFound
from services.core.models import Tenant
from services.core.simulator.service import send_as_customer, transcript

from .context import render, visible_tenants
from .security import PageUser, check_form_csrf, ensure
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)


async def simulated_tenant(state: AppState, principal: Principal, slug: str) -> Tenant:
    tenant = next((t for t in await visible_tenants(state, principal) if t.slug == slug), None)
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    ensure(principal, Action.SIMULATE, tenant.id)
    return tenant


async def say(state: AppState, principal: Principal, tenant: Tenant, text: str) -> int:
    """Store the simulated customer's message and queue its turn (after the commit)."""
    if not text.strip():
        raise InvalidInput("type a message")
    correlation_id = uuid.uuid4().hex
    async with transaction(state.sessionmaker) as session:
        inbound_id = await send_as_customer(
            session,
            tenant_id=tenant.id,
            user_id=principal.user_id,
            text=text,
            correlation_id=correlation_id,
        )
    debounce = float(tenant.spec.get("conversation", {}).get("debounceSeconds", 0) or 0)
    await jobs.enqueue_inbound(
        state.redis, inbound_id, defer_seconds=debounce, correlation_id=correlation_id
    )
    return inbound_id


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
    return templates.TemplateResponse(request, "_transcript.html", {"lines": lines})
