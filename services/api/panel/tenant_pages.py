"""The tenants page: status, switches, limits, budget use, webhook health, the charts, and
where conversations came from (campaigns)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.api import operations
from services.api.deps import StateDep
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Action, scope_of
from services.core.errors import AtendeError
from services.core.stats.service import CAMPAIGN_DAYS, campaign_breakdown, overview
from services.core.tenants.overview import tenant_overviews

from .charts import bar_chart
from .context import render

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def tenants_page(request: Request, state: StateDep, principal: PageUser) -> HTMLResponse:
    scope = scope_of(principal)
    async with state.sessionmaker() as session:
        tenants = await tenant_overviews(session, scope=scope)
        stats = await overview(session, scope=scope)
        campaigns = await campaign_breakdown(session, scope=scope)
    charts = {
        "Messages per hour": bar_chart(
            stats.messages.hours, stats.messages.values, label="messages per hour"
        ),
        "Handoff rate": bar_chart(
            stats.handoff_rate.hours,
            stats.handoff_rate.values,
            label="handoff rate",
            fmt=lambda v: f"{v:.0%}",
        ),
        "Reply time (median)": bar_chart(
            stats.reply_seconds.hours,
            stats.reply_seconds.values,
            label="reply time",
            fmt=lambda v: f"{v:.1f} s",
        ),
    }
    switchable = {t.id for t in tenants if principal.can(Action.SWITCH, t.id)}
    return render(
        request,
        state,
        principal,
        "tenants.html",
        "tenants",
        tenants=tenants,
        charts=charts,
        campaigns=campaigns,
        campaign_days=CAMPAIGN_DAYS,
        switchable=switchable,
    )


@router.post("/tenants/{slug}/pause")
async def pause(
    request: Request,
    state: StateDep,
    principal: PageUser,
    slug: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    await operations.switchable_tenant(state, principal, slug)
    try:
        await operations.pause(state, slug, reason=reason, actor=principal.email)
    except AtendeError as exc:
        return _back(exc.message, error=True)
    return _back(f"{slug} paused")


@router.post("/tenants/{slug}/resume")
async def resume(
    request: Request, state: StateDep, principal: PageUser, slug: str
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    await operations.switchable_tenant(state, principal, slug)
    queued = await operations.resume(state, slug, actor=principal.email)
    return _back(f"{slug} resumed; {queued} waiting conversation(s) queued")


def _back(message: str, *, error: bool = False) -> RedirectResponse:
    kind = "&kind=error" if error else ""
    return RedirectResponse(f"/panel?flash={quote(message)}{kind}", status_code=303)
