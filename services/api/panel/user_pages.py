"""Users: a platform admin manages everyone, a tenant admin their own tenant's users. Each
change ends the user's sessions at once and is audited (services.core.auth.accounts).
Invitations (services.core.auth.invitations): the inviter is shown a one-time link to pass on;
the invitee opens it, sets a password and is signed in."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.api import account_operations as accounts
from services.api import invitation_operations as invitations
from services.api.client_ip import client_ip
from services.api.deps import RowId, StateDep
from services.api.security import PageUser, check_form_csrf
from services.core.auth.invitations import VALID_HOURS, InvitationUnusable
from services.core.auth.invitations import link as invitation_link
from services.core.auth.roles import Principal, Role
from services.core.errors import AtendeError, InvalidInput
from services.core.tenants.queries import visible_tenants

from .auth_routes import set_session_cookies
from .context import render
from .i18n import gettext as _
from .labels import role_name
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
async def users_page(request: Request, state: StateDep, principal: PageUser) -> HTMLResponse:
    return await _users(request, state, principal)


async def _users(
    request: Request, state: StateDep, principal: Principal, **extra: Any
) -> HTMLResponse:
    found = await accounts.list_accounts(state, principal)
    pending = await invitations.pending(state, principal)
    everyone = principal.role is Role.PLATFORM_ADMIN
    roles = [r.value for r in Role if everyone or r is not Role.PLATFORM_ADMIN]
    tenants: list[str] = []
    if everyone:
        async with state.sessionmaker() as session:
            tenants = [t.slug for t in await visible_tenants(session, None)]
    return render(
        request, state, principal, "users.html", "users",
        users=found, roles=roles, invitations=pending, tenants=tenants, valid_hours=VALID_HOURS,
        **extra,
    )  # fmt: skip


@router.post("/users/invite", response_class=HTMLResponse)
async def invite(
    request: Request,
    state: StateDep,
    principal: PageUser,
    email: Annotated[str, Form(max_length=200)],
    new_role: Annotated[Role, Form(alias="role")],
    tenant: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """The link is shown on this page once (never in a redirect's URL, never stored)."""
    await check_form_csrf(state, request, principal)
    try:
        issued = await invitations.invite(state, principal, email, new_role, tenant or None)
    except InvalidInput as exc:
        return await _users(request, state, principal, invite_error=_said(exc.message))
    link = invitation_link(str(request.base_url), issued.token)
    return await _users(request, state, principal, issued=issued, link=link)


@router.post("/users/invitations/{invitation_id}/revoke")
async def revoke_invitation(
    request: Request, state: StateDep, principal: PageUser, invitation_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    work = invitations.revoke(state, principal, invitation_id)
    return await _done(work, _("Invitation revoked; its link no longer opens"))


_SAID = {
    "a user with this e-mail exists": lambda: _("A user with this e-mail already exists."),
    "the e-mail is not an address": lambda: _("That is not an e-mail address."),
    "only a platform admin can invite a platform admin": lambda: _(
        "Only a platform admin can invite a platform admin."
    ),
    "a platform admin belongs to no tenant": lambda: _("A platform admin belongs to no tenant."),
    "a password cannot start or end with spaces": lambda: _(
        "A password cannot start or end with spaces."
    ),
}
_SAID_LIKE: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"a password needs at least (\d+) characters"),
        lambda m: _("A password needs at least %(n)s characters.") % {"n": m[1]},
    ),
    (
        re.compile(r"a password has at most (\d+) characters"),
        lambda m: _("A password has at most %(n)s characters.") % {"n": m[1]},
    ),
    (
        re.compile(r"a \w+ belongs to a tenant \(--tenant\)"),
        lambda m: _("Choose the tenant this user belongs to."),
    ),
]


def _said(message: str) -> str:
    """Core's English reasons in the reader's language (one of ours is kept as it is)."""
    said = []
    for part in message.split("; "):
        if (known := _SAID.get(part)) is not None:
            said.append(known())
            continue
        for pattern, say in _SAID_LIKE:
            if match := pattern.fullmatch(part):
                said.append(say(match))
                break
        else:
            said.append(part)
    return " ".join(said)


def _unusable(request: Request, reason: str) -> HTMLResponse:
    context = {"principal": None, "reason": reason}
    return templates.TemplateResponse(request, "invite_unusable.html", context, status_code=410)


@router.get("/invite/{token}", response_class=HTMLResponse)
async def invite_form(request: Request, state: StateDep, token: str) -> HTMLResponse:
    """What the invitee opens: who they will be, and a password to choose."""
    try:
        invitation = await invitations.opened(state, token)
    except InvitationUnusable as exc:
        return _unusable(request, exc.reason)
    context = {"principal": None, "invitation": invitation, "token": token, "error": None}
    return templates.TemplateResponse(request, "invite.html", context)


@router.post("/invite/{token}", response_model=None)
async def invite_accept(
    request: Request,
    state: StateDep,
    token: str,
    password: Annotated[str, Form(max_length=200)],
    confirm: Annotated[str, Form(max_length=200)],
) -> HTMLResponse | RedirectResponse:
    """The link's token is the form's proof (no session exists yet to bind a CSRF token to)."""
    try:
        invitation = await invitations.opened(state, token)
        if password != confirm:
            raise InvalidInput(_("The two passwords differ."))
        ip = client_ip(request, state.settings.trusted_proxy_hops)
        signed = await invitations.accept(state, token, password, ip)
    except InvitationUnusable as exc:
        return _unusable(request, exc.reason)
    except InvalidInput as exc:
        context = {"principal": None, "invitation": invitation, "token": token}
        return templates.TemplateResponse(
            request, "invite.html", context | {"error": _said(exc.message)}, status_code=400
        )
    response = RedirectResponse("/panel", status_code=303)
    set_session_cookies(response, state, signed)
    return response


async def _done(work: Awaitable[object], message: str) -> RedirectResponse:
    try:
        await work
    except AtendeError as exc:
        if exc.status_code in (401, 403, 404):
            raise
        return _back(_said(exc.message), error=True)
    return _back(message)


@router.post("/users/{user_id}/disable")
async def disable(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    work = accounts.set_active(state, principal, user_id, False)
    return await _done(work, _("User disabled; their sessions ended"))


@router.post("/users/{user_id}/enable")
async def enable(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    return await _done(accounts.set_active(state, principal, user_id, True), _("User enabled"))


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
    return await _done(
        work, _("Role changed to %(role)s; their sessions ended") % {"role": role_name(new_role)}
    )


@router.post("/users/{user_id}/revoke-sessions")
async def revoke(
    request: Request, state: StateDep, principal: PageUser, user_id: RowId
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    return await _done(accounts.revoke_sessions(state, principal, user_id), _("Sessions ended"))


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
    return await _done(work, _("Password reset; their sessions ended"))


def _back(message: str, *, error: bool = False) -> RedirectResponse:
    kind = "&kind=error" if error else ""
    return RedirectResponse(f"/panel/users?flash={quote(message)}{kind}", status_code=303)
