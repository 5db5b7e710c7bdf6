"""The queue of handoffs: conversations waiting for a person, oldest first, with how long each
has waited and its SLA; the rows refresh on their own (static/live.js polls the fragment)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import StateDep
from services.api.operations import visible_tenants
from services.api.security import PageUser
from services.core.auth.roles import scope_of
from services.core.handoff.queue import Waiting, waiting_handoffs

from .context import render
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)
LIVE_SECONDS = 3
Slug = Annotated[str, Query(max_length=63)]


async def _waiting(state: StateDep, principal: PageUser, tenant: str) -> list[Waiting]:
    async with state.sessionmaker() as session:
        return await waiting_handoffs(session, scope=scope_of(principal), tenant=tenant)


@router.get("/handoffs", response_class=HTMLResponse)
async def handoffs_page(
    request: Request, state: StateDep, principal: PageUser, tenant: Slug = ""
) -> HTMLResponse:
    return render(
        request,
        state,
        principal,
        "handoffs.html",
        "handoffs",
        rows=await _waiting(state, principal, tenant),
        tenant=tenant,
        tenants=await visible_tenants(state, principal),
        live_seconds=LIVE_SECONDS,
    )


@router.get("/handoffs/rows", response_class=HTMLResponse)
async def handoff_rows(
    request: Request, state: StateDep, principal: PageUser, tenant: Slug = ""
) -> HTMLResponse:
    rows = await _waiting(state, principal, tenant)
    return templates.TemplateResponse(request, "_handoff_rows.html", {"rows": rows})
