"""Conversations: search, filters and keyset pages; the full thread, live; and what an agent or
supervisor does to one (hand to a person, give back to the bot, resolve)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.api import conversation_operations as conversations
from services.api.deps import RowId, StateDep
from services.api.operations import visible_tenants
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Action, scope_of
from services.core.conversations.search import (
    STATES,
    Filters,
    campaign_names,
    search_conversations,
)

from .context import render
from .formatting import tenant_zone
from .i18n import gettext as _
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)
LIVE_SECONDS = 3
Text = Annotated[str, Query(max_length=200)]
Slug = Annotated[str, Query(max_length=63)]


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.get("/conversations", response_class=HTMLResponse)
async def conversations_page(
    request: Request,
    state: StateDep,
    principal: PageUser,
    q: Text = "",
    tenant: Slug = "",
    conversation_state: Annotated[str, Query(alias="state", max_length=16)] = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    sla: Annotated[str, Query(max_length=1)] = "",
    campaign: Slug = "",
    after: Annotated[str, Query(max_length=200)] = "",
    before: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    filters = Filters(
        search=q,
        tenant=tenant,
        state=conversation_state if conversation_state in STATES else "",
        since=_day(since),
        until=_day(until),
        sla_breached=sla == "1",
        campaign=campaign,
    )
    tenants = await visible_tenants(state, principal)
    async with state.sessionmaker() as session:
        page = await search_conversations(
            session,
            scope=scope_of(principal),
            filters=filters,
            cursor=before or after or None,
            direction="before" if before else "after",
        )
        campaigns = await campaign_names(session, scope=scope_of(principal))
    kept = {
        "q": q,
        "tenant": tenant,
        "state": filters.state,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        "sla": "1" if filters.sla_breached else "",
        "campaign": campaign,
    }
    kept = {name: value for name, value in kept.items() if value}

    def link(**cursor: str) -> str:
        return "/panel/conversations?" + urlencode(kept | cursor)

    return render(
        request,
        state,
        principal,
        "conversations.html",
        "conversations",
        page=page,
        filters=filters,
        kept=kept,
        states=STATES,
        tenants=tenants,
        campaigns=campaigns,
        page_zone=tenant_zone(tenants[0]) if len(tenants) == 1 else None,
        newer_link=link(before=page.newer) if page.newer else None,
        older_link=link(after=page.older) if page.older else None,
    )


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> HTMLResponse:
    detail = await conversations.read(state, principal, conversation_id)
    return render(
        request,
        state,
        principal,
        "conversation.html",
        "conversations",
        detail=detail,
        tz=await _zone(state, detail.conversation.tenant_id),
        can_handle=principal.can(Action.HANDLE, detail.conversation.tenant_id),
        live_seconds=LIVE_SECONDS,
    )


@router.get("/conversations/{conversation_id}/live", response_class=HTMLResponse)
async def conversation_live(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> HTMLResponse:
    """The state, handoffs and thread as a fragment, polled by the open page (static/live.js)."""
    detail = await conversations.read(state, principal, conversation_id)
    tz = await _zone(state, detail.conversation.tenant_id)
    return templates.TemplateResponse(
        request, "_conversation_live.html", {"detail": detail, "principal": principal, "tz": tz}
    )


async def _zone(state: StateDep, tenant_id: int) -> str:
    return tenant_zone(await state.tenants.by_id(tenant_id))


async def _act(
    request: Request,
    state: StateDep,
    principal: PageUser,
    conversation_id: int,
    action: conversations.AgentAction,
    reason: str = "",
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    outcome = await conversations.act(
        state, principal, conversation_id, action, reason=reason.strip() or _default_reason()
    )
    messages = {
        ("hand-off", True): _("Handed to a person: the bot stays quiet."),
        ("hand-off", False): _("A person already has this conversation."),
        ("give-back", True): _("Given back to the bot."),
        ("give-back", False): _("The bot already had this conversation."),
        ("resolve", True): _("Resolved: the conversation is back with the bot."),
        ("resolve", False): _("Resolved: the bot already had this conversation."),
    }
    message = messages[(outcome.action, outcome.changed)]
    if outcome.ticket == "closing":
        message += " " + _("The Whaticket ticket is being closed.")
    if not outcome.queued:
        message = _("Back to the bot, but the ticket could not be closed now: resolve again.")
    kind = "" if outcome.queued else "&kind=error"
    return RedirectResponse(
        f"/panel/conversations/{conversation_id}?flash={quote(message)}{kind}", status_code=303
    )


def _default_reason() -> str:
    return _("Handed to a person from the panel")


@router.post("/conversations/{conversation_id}/hand-off")
async def hand_off(
    request: Request,
    state: StateDep,
    principal: PageUser,
    conversation_id: RowId,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    return await _act(request, state, principal, conversation_id, "hand-off", reason)


@router.post("/conversations/{conversation_id}/give-back")
async def give_back(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> RedirectResponse:
    return await _act(request, state, principal, conversation_id, "give-back")


@router.post("/conversations/{conversation_id}/resolve")
async def resolve(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> RedirectResponse:
    return await _act(request, state, principal, conversation_id, "resolve")
