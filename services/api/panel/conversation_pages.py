"""Conversations: search and filter, and the full thread with what produced each reply."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import RowId, StateDep
from services.api.operations import open_conversation
from services.api.security import PageUser
from services.core.auth.roles import scope_of
from services.core.conversations.queries import list_conversations

from .context import render

router = APIRouter(prefix="/panel", include_in_schema=False)
STATES = ("bot", "human")


@router.get("/conversations", response_class=HTMLResponse)
async def conversations_page(
    request: Request,
    state: StateDep,
    principal: PageUser,
    q: str = Query("", max_length=200),
    conversation_state: str = Query("", alias="state", max_length=16),
) -> HTMLResponse:
    async with state.sessionmaker() as session:
        rows = await list_conversations(
            session,
            scope=scope_of(principal),
            state=conversation_state if conversation_state in STATES else None,
            search=q or None,
        )
    return render(
        request,
        state,
        principal,
        "conversations.html",
        "conversations",
        rows=rows,
        q=q,
        state_filter=conversation_state,
        states=STATES,
    )


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> HTMLResponse:
    detail = await open_conversation(state, principal, conversation_id)
    return render(request, state, principal, "conversation.html", "conversations", detail=detail)
