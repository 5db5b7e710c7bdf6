"""Conversations: search and filter, and the full thread with what produced each reply."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import RowId, StateDep
from services.api.state import AppState
from services.core.audit.service import record
from services.core.auth.roles import Principal
from services.core.conversations.queries import (
    ConversationDetail,
    conversation_detail,
    list_conversations,
)
from services.core.db import transaction
from services.core.errors import NotFound

from .context import render, scope_of
from .security import PageUser

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


async def open_conversation(
    state: AppState, principal: Principal, conversation_id: int
) -> ConversationDetail:
    """The thread, if in scope (else NotFound, as for a missing one); the view is audited."""
    async with transaction(state.sessionmaker) as session:
        detail = await conversation_detail(session, conversation_id, scope=scope_of(principal))
        if detail is None:
            raise NotFound("conversation not found")
        # Reading a customer's conversation is itself recorded.
        await record(
            session,
            actor=principal.email,
            action="conversation.viewed",
            tenant_id=detail.conversation.tenant_id,
            details={"conversation_id": conversation_id},
        )
    return detail


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
async def conversation_page(
    request: Request, state: StateDep, principal: PageUser, conversation_id: RowId
) -> HTMLResponse:
    detail = await open_conversation(state, principal, conversation_id)
    return render(request, state, principal, "conversation.html", "conversations", detail=detail)
