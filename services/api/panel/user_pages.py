"""Users: a platform admin manages everyone, a tenant admin their own tenant's users. Each
change ends the user's sessions at once and is audited (services.core.auth.accounts)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.api import account_operations as accounts
from services.api.deps import RowId, StateDep
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Role
from services.core.errors import AtendeError

from .context import render

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, state: StateDep, principal: PageUser) -> HTMLResponse:
    found = await accounts.list_accounts(state, principal)
    everyone = principal.role is Role.PLATFORM_ADMIN
    roles = [r.value for r in Role if everyone or r is not Role.PLATFORM_ADMIN]
    return render(request, state, principal, "users.html", "users", users=found, roles=roles)


async def _done(work: Awaitable[object], message: str) -> RedirectResponse:
    try:
        await work
    except AtendeError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return _back(exc.message, error=True)
    return _back(message)


@router.post("/users/{user_id}/disable")
async def disable(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    work = accounts.set_active(state, principal, user_id, False)
    return await _done(work, "User disabled; their sessions ended")


@router.post("/users/{user_id}/enable")
async def enable(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    return await _done(accounts.set_active(state, principal, user_id, True), "User enabled")


@router.post("/users/{user_id}/role")
async def role(
    request: Request,
    state: StateDep,
    principal: PageUser,
    user_id: RowId,
    new_role: Annotated[Role, Form(alias="role")],
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    work = accounts.set_role(state, principal, user_id, new_role, None)
    return await _done(work, f"Role changed to {new_role.value}; their sessions ended")


@router.post("/users/{user_id}/revoke-sessions")
async def revoke(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    return await _done(accounts.revoke_sessions(state, principal, user_id), "Sessions ended")


@router.post("/users/{user_id}/password")
async def password(
    request: Request,
    state: StateDep,
    principal: PageUser,
    user_id: RowId,
    new_password: Annotated[str, Form(alias="password", max_length=200)],
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    work = accounts.reset_password(state, principal, user_id, new_password)
    return await _done(work, "Password reset; their sessions ended")


def _back(message: str, *, error: bool = False) -> RedirectResponse:
    kind = "&kind=error" if error else ""
    return RedirectResponse(f"/panel/users?flash={quote(message)}{kind}", status_code=303)
