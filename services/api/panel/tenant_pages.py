"""The tenants page: status, switches, limits, budget use, webhook health, the charts, and
where conversations came from (campaigns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import operations
from services.api.deps import StateDep
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Action, scope_of
from services.core.errors import AtendeError
from services.core.stats import charts as stats
from services.core.stats.service import CAMPAIGN_DAYS, campaign_breakdown
from services.core.tenants.overview import TenantOverview, tenant_overviews
from services.core.tenants.queries import visible_tenants
from services.core.tenants.spec import BotTenantSpec

from . import charts as draw
from .context import render
from .formatting import zone_name
from .i18n import gettext as _
from .i18n import ngettext

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def tenants_page(
    request: Request, state: StateDep, principal: PageUser, tenant: str = ""
) -> HTMLResponse:
    """``tenant``: whose charts (someone who sees several; empty: all of them together, in
    the platform's timezone)."""
    scope = scope_of(principal)
    now = datetime.now(UTC)
    async with state.sessionmaker() as session:
        tenants = await tenant_overviews(session, scope=scope)
        rows = await visible_tenants(session, scope)
        specs = {t.id: BotTenantSpec.model_validate(t.spec) for t in rows}
        campaigns = await campaign_breakdown(session, scope=scope)
        shown = [t for t in tenants if t.slug == tenant] or tenants
        charts = await _charts(session, shown, specs, now) if shown else None
    selected = shown[0].slug if len(shown) == 1 else ""
    switchable = {t.id for t in tenants if principal.can(Action.SWITCH, t.id)}
    return render(
        request,
        state,
        principal,
        "tenants.html",
        "tenants",
        tenants=tenants,
        charts=charts,
        selected=selected,
        zones={tenant_id: spec.business_hours.timezone for tenant_id, spec in specs.items()},
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
    return _back(_("%(slug)s paused") % {"slug": slug})


@router.post("/tenants/{slug}/resume")
async def resume(
    request: Request, state: StateDep, principal: PageUser, slug: str
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    await operations.switchable_tenant(state, principal, slug)
    queued = await operations.resume(state, slug, actor=principal.email)
    message = ngettext(
        "%(slug)s resumed; %(num)s waiting conversation queued",
        "%(slug)s resumed; %(num)s waiting conversations queued",
        queued,
    )
    return _back(message % {"slug": slug, "num": queued})


async def _charts(
    session: AsyncSession,
    shown: list[TenantOverview],
    specs: dict[int, BotTenantSpec],
    now: datetime,
) -> dict[str, tuple[str, Markup, str]]:
    """The four charts of the tenants shown: (title, picture, what it covers), by key."""
    ids = [t.id for t in shown]
    tz = stats.zone(specs[ids[0]].business_hours.timezone if len(ids) == 1 else None)
    heat = await stats.message_heatmap(session, tenant_ids=ids, tz=tz, now=now)
    outcomes = await stats.daily_outcomes(session, tenant_ids=ids, tz=tz, now=now)
    replies = await stats.first_reply_times(session, tenant_ids=ids, tz=tz, now=now)
    budgets = [
        stats.BudgetTenant(
            t.id, specs[t.id].business_hours.timezone, specs[t.id].llm.monthly_token_budget
        )
        for t in shown
    ]
    names = {t.id: t.display_name for t in shown}
    used = await stats.budget_use(session, tenants=budgets, now=now)
    where = f"{zone_name(tz)} ({tz})"
    days = _("last %(n)s days, %(zone)s") % {"n": stats.DAILY_DAYS, "zone": where}
    return {
        "heatmap": (
            _("Messages by weekday and hour"),
            draw.heatmap(heat, where),
            _("last %(n)s days, %(zone)s") % {"n": heat.days, "zone": where},
        ),
        "outcomes": (_("Answered by the bot vs handed off"), draw.outcomes(outcomes), days),
        "reply_times": (_("First-reply time"), draw.reply_times(replies), days),
        "budget": (
            _("Token budget this month"),
            draw.budget([(names[u.tenant_id], u) for u in used]),
            _("each tenant's month, in its timezone"),
        ),
    }


def _back(message: str, *, error: bool = False) -> RedirectResponse:
    kind = "&kind=error" if error else ""
    return RedirectResponse(f"/panel?flash={quote(message)}{kind}", status_code=303)
