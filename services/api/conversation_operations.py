"""What the panel does around a conversation, at the request boundary: reading it (audited once
per reader and window) and the three actions of an agent or supervisor — hand to a person, give
back to the bot, resolve — each the same core function the action API calls
(:mod:`services.core.handoff.agent_actions`), with the role checked here and the jobs queued
after the commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.api.security import ensure
from services.api.state import AppState
from services.core.auth.roles import Action, Principal, scope_of
from services.core.conversations.queries import ConversationDetail, conversation_tenant
from services.core.conversations.viewing import ViewWindow, open_conversation
from services.core.db import transaction
from services.core.errors import NotFound
from services.core.handoff import agent_actions
from services.core.handoff.triggers import Trigger
from services.core.tenants.directory import TenantConfig

AgentAction = Literal["hand-off", "give-back", "resolve"]


@dataclass(frozen=True, slots=True)
class Outcome:
    action: AgentAction
    changed: bool  # False: it already was so (nothing to hand over, nobody to give back)
    queued: bool = True  # False: the ticket close could not be queued (repeat it)
    ticket: str | None = None  # a resolve's ticket plan (closing, no_ticket, not_configured)


async def read(state: AppState, principal: Principal, conversation_id: int) -> ConversationDetail:
    """The thread, if in scope (NotFound otherwise); the first view in the window is audited."""
    window = ViewWindow(state.redis, principal.user_id)
    try:
        async with transaction(state.sessionmaker) as session:
            return await open_conversation(
                session,
                conversation_id,
                scope=scope_of(principal),
                actor=principal.email,
                window=window,
            )
    except NotFound:
        raise
    except BaseException:
        await window.release(conversation_id)
        raise


async def _tenant(state: AppState, principal: Principal, conversation_id: int) -> TenantConfig:
    async with state.sessionmaker() as session:
        tenant_id = await conversation_tenant(session, conversation_id, scope=scope_of(principal))
    tenant = None if tenant_id is None else await state.tenants.by_id(tenant_id)
    if tenant is None:
        raise NotFound("conversation not found")
    ensure(principal, Action.HANDLE, tenant.id)
    return tenant


async def act(
    state: AppState,
    principal: Principal,
    conversation_id: int,
    action: AgentAction,
    *,
    reason: str = "",
) -> Outcome:
    tenant = await _tenant(state, principal, conversation_id)
    actor = principal.email
    if action == "hand-off":
        async with transaction(state.sessionmaker) as session:
            handoff_id = await agent_actions.hand_off(
                session, tenant, conversation_id, actor=actor, trigger=Trigger.PANEL, reason=reason
            )
        await agent_actions.queue_transfer(state.redis, handoff_id)
        return Outcome(action, handoff_id is not None)
    if action == "give-back":
        async with transaction(state.sessionmaker) as session:
            resumed = await agent_actions.give_back(session, tenant, conversation_id, actor=actor)
        return Outcome(action, resumed > 0)
    async with transaction(state.sessionmaker) as session:
        closed = await agent_actions.close(session, tenant, conversation_id, actor=actor)
    queued = await agent_actions.queue_ticket_close(state.redis, conversation_id, closed)
    return Outcome(action, closed.was_with_a_person, queued, closed.ticket)
