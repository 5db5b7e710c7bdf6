"""``/api/v1``: the panel's operations as JSON, with the same sign-in, roles and audit.

Authenticate with ``POST /api/v1/auth/token`` and send ``Authorization: Bearer <token>``; a
browser session cookie also works, with the ``X-CSRF-Token`` header on every write.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from services.api import account_operations as accounts
from services.api import operations
from services.api.client_ip import client_ip
from services.api.deps import RowId, StateDep
from services.api.security import ApiUser, ensure
from services.api.sign_in import attempt_sign_in
from services.core.audit.service import recent_events
from services.core.auth.roles import Action, Role, scope_of
from services.core.conversations.queries import list_conversations
from services.core.errors import TooManyRequests, Unauthorized
from services.core.simulator.service import transcript
from services.core.tenants.overview import tenant_overviews

from . import v1_invitations

router = APIRouter(prefix="/api/v1", tags=["admin"])
router.include_router(v1_invitations.router)  # /users/invitations


class Credentials(BaseModel):
    email: str = Field(max_length=200)
    password: str = Field(max_length=200)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type
    expires_in: int


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class Ids(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=200)


class Text(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class Outcomes(BaseModel):
    outcomes: list[str]


class NewRole(BaseModel):
    role: Role
    tenant: str | None = Field(default=None, max_length=100)


class NewPassword(BaseModel):
    password: str = Field(max_length=200)


class Changed(BaseModel):
    changed: bool
    sessions_ended: int | None = None


@router.post("/auth/token", response_model=Token)
async def token(request: Request, state: StateDep, body: Credentials) -> Token:
    ip = client_ip(request, state.settings.trusted_proxy_hops)
    outcome = await attempt_sign_in(state, body.email, body.password, ip)
    if outcome.retry_after is not None:
        raise TooManyRequests(outcome.retry_after)
    if outcome.signed is None:
        raise Unauthorized("wrong e-mail or password")
    minutes = state.settings.panel_access_token_minutes
    return Token(access_token=outcome.signed.access_token, expires_in=minutes * 60)


@router.get("/tenants")
async def tenants(state: StateDep, principal: ApiUser) -> list[dict[str, Any]]:
    async with state.sessionmaker() as session:
        found = await tenant_overviews(session, scope=scope_of(principal))
    return [
        {
            "slug": t.slug,
            "display_name": t.display_name,
            "enabled": t.enabled,
            "paused": t.paused,
            "pause_reason": t.pause_reason,
            "model": t.model,
            "channel": t.variant,
            "budget": t.budget,
            "used_tokens": t.used_tokens,
            "last_webhook_at": t.last_webhook_at,
            "handoffs_open": t.handoffs_open,
        }
        for t in found
    ]


@router.post("/tenants/{slug}/pause")
async def pause(state: StateDep, principal: ApiUser, slug: str, body: Reason) -> dict[str, str]:
    await operations.switchable_tenant(state, principal, slug)
    result = await operations.pause(state, slug, reason=body.reason, actor=principal.email)
    return {"tenant": slug, "outcome": result.outcome}


@router.post("/tenants/{slug}/resume")
async def resume(state: StateDep, principal: ApiUser, slug: str) -> dict[str, Any]:
    await operations.switchable_tenant(state, principal, slug)
    queued = await operations.resume(state, slug, actor=principal.email)
    return {"tenant": slug, "queued": queued}


@router.get("/conversations")
async def conversations(
    state: StateDep,
    principal: ApiUser,
    q: Annotated[str, Query(max_length=200)] = "",
    conversation_state: Annotated[Literal["", "bot", "human"], Query(alias="state")] = "",
) -> list[dict[str, Any]]:
    async with state.sessionmaker() as session:
        rows = await list_conversations(
            session, scope=scope_of(principal), state=conversation_state or None, search=q or None
        )
    return [_asdict(row) for row in rows]


def _asdict(value: Any) -> dict[str, Any]:
    return {field.name: getattr(value, field.name) for field in fields(value)}


@router.get("/conversations/{conversation_id}")
async def conversation(
    state: StateDep, principal: ApiUser, conversation_id: RowId
) -> dict[str, Any]:
    detail = await operations.open_conversation(state, principal, conversation_id)
    return {
        "conversation": _asdict(detail.conversation),
        "items": [_asdict(item) for item in detail.items],
        "handoffs": detail.handoffs,
    }


@router.get("/dead-letters")
async def dead_letter_list(
    state: StateDep, principal: ApiUser, status: Literal["open", "all"] = "open"
) -> list[dict[str, Any]]:
    letters = await operations.dead_letters(state, principal, show_all=status == "all")
    return [
        {
            "id": d.id,
            "tenant_id": d.tenant_id,
            "stage": d.stage,
            "error_class": d.error_class,
            "error": d.error,
            "attempts": d.attempts,
            "status": d.status,
            "context": d.context,
            "created_at": d.created_at,
        }
        for d in letters
    ]


@router.post("/dead-letters/replay", response_model=Outcomes)
async def dead_letter_replay(state: StateDep, principal: ApiUser, body: Ids) -> Outcomes:
    return Outcomes(outcomes=await operations.replay(state, principal, body.ids))


@router.post("/dead-letters/{dead_letter_id}/discard", response_model=Outcomes)
async def dead_letter_discard(
    state: StateDep, principal: ApiUser, dead_letter_id: RowId, body: Reason
) -> Outcomes:
    outcome = await operations.discard(state, principal, dead_letter_id, body.reason)
    return Outcomes(outcomes=[outcome])


@router.get("/audit")
async def audit(
    state: StateDep, principal: ApiUser, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[dict[str, Any]]:
    scope = principal.tenant_scope()
    ensure(principal, Action.VIEW_AUDIT, scope)
    async with state.sessionmaker() as session:
        events = await recent_events(session, tenant_id=scope, limit=limit)
    return [
        {
            "id": e.id,
            "at": e.at,
            "actor": e.actor,
            "action": e.action,
            "tenant_id": e.tenant_id,
            "details": e.details,
        }
        for e in events
    ]


@router.post("/simulator/{slug}/messages")
async def simulator_say(
    state: StateDep, principal: ApiUser, slug: str, body: Text
) -> dict[str, int]:
    tenant = await operations.simulated_tenant(state, principal, slug)
    return {"inbound_id": await operations.say(state, principal, tenant, body.text)}


@router.get("/simulator/{slug}/messages")
async def simulator_lines(state: StateDep, principal: ApiUser, slug: str) -> list[dict[str, Any]]:
    tenant = await operations.simulated_tenant(state, principal, slug)
    async with state.sessionmaker() as session:
        lines = await transcript(session, tenant_id=tenant.id, user_id=principal.user_id)
    return [_asdict(line) for line in lines]


@router.get("/users")
async def users(state: StateDep, principal: ApiUser) -> list[dict[str, Any]]:
    """The users you may manage (a tenant admin: their tenant's)."""
    return [_asdict(account) for account in await accounts.list_accounts(state, principal)]


@router.post("/users/{user_id}/disable", response_model=Changed)
async def user_disable(state: StateDep, principal: ApiUser, user_id: RowId) -> Changed:
    """The user can no longer sign in; every session of theirs ends at once."""
    return Changed(changed=await accounts.set_active(state, principal, user_id, False))


@router.post("/users/{user_id}/enable", response_model=Changed)
async def user_enable(state: StateDep, principal: ApiUser, user_id: RowId) -> Changed:
    return Changed(changed=await accounts.set_active(state, principal, user_id, True))


@router.post("/users/{user_id}/role", response_model=Changed)
async def user_role(state: StateDep, principal: ApiUser, user_id: RowId, body: NewRole) -> Changed:
    """Another role (a platform admin may also move the user to ``tenant``); sessions end."""
    changed = await accounts.set_role(state, principal, user_id, body.role, body.tenant)
    return Changed(changed=changed)


@router.post("/users/{user_id}/revoke-sessions", response_model=Changed)
async def user_revoke(state: StateDep, principal: ApiUser, user_id: RowId) -> Changed:
    ended = await accounts.revoke_sessions(state, principal, user_id)
    return Changed(changed=ended > 0, sessions_ended=ended)


@router.post("/users/{user_id}/password", response_model=Changed)
async def user_password(
    state: StateDep, principal: ApiUser, user_id: RowId, body: NewPassword
) -> Changed:
    """A new password; the user's sessions end."""
    await accounts.reset_password(state, principal, user_id, body.password)
    return Changed(changed=True)
