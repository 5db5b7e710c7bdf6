"""Sign in, refresh, sign out: the only panel routes that work without a session."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.client_ip import client_ip
from services.api.deps import StateDep
from services.api.locale import current_locale, set_locale
from services.api.security import ACCESS_COOKIE, REFRESH_COOKIE, PageUser, check_form_csrf
from services.api.sign_in import (
    DEVICE_COOKIE,
    DEVICE_DAYS,
    attempt_sign_in,
    known_device,
    new_device_token,
)
from services.api.state import AppState
from services.core.auth.profile import PANEL_LOCALES
from services.core.auth.sessions import RefreshFailed, SignedIn, refresh, sign_out
from services.core.auth.tokens import TokenKeys
from services.core.db import transaction

from .i18n import gettext as _
from .profile_pages import LANGUAGE_NAMES, remember_language
from .templating import templates

router = APIRouter(prefix="/panel", include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Only our own pages: an open redirect would hand a signed-in user to anyone."""
    if value and value.startswith("/panel") and not value.startswith("//"):
        return value
    return "/panel"


def set_session_cookies(response: Response, state: AppState, signed: SignedIn) -> None:
    secure = state.settings.panel_secure_cookies
    minutes = state.settings.panel_access_token_minutes
    response.set_cookie(
        ACCESS_COOKIE,
        signed.access_token,
        max_age=minutes * 60,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        signed.refresh_token,
        expires=signed.refresh_expires_at,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/panel/refresh",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/")
    response.delete_cookie(REFRESH_COOKIE, path="/panel/refresh")


def _login_page(
    request: Request,
    next_url: str,
    *,
    error: str | None = None,
    email: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = {
        "next": next_url,
        "error": error,
        "email": email,
        "principal": None,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in PANEL_LOCALES],
        "current": current_locale(),
    }
    return templates.TemplateResponse(request, "login.html", context, status_code=status)


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, state: StateDep, next: str | None = None, lang: str | None = None
) -> HTMLResponse:
    """``?lang=en`` (a link on the page): this browser reads the panel in that language from
    now on, until a signed-in user's own choice says otherwise."""
    if lang not in PANEL_LOCALES:
        return _login_page(request, safe_next(next))
    set_locale(lang)
    page = _login_page(request, safe_next(next))
    remember_language(page, lang, secure=state.settings.panel_secure_cookies)
    return page


@router.post("/login", response_model=None)
async def login(
    request: Request,
    state: StateDep,
    email: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=200)],
    next: Annotated[str, Form(max_length=500)] = "/panel",
) -> Response:
    ip = client_ip(request, state.settings.trusted_proxy_hops)
    device = request.cookies.get(DEVICE_COOKIE)
    outcome = await attempt_sign_in(state, email, password, ip, device)
    if outcome.retry_after is not None:
        message = _("Too many attempts. Try again in %(seconds)s seconds.") % {
            "seconds": math.ceil(outcome.retry_after)
        }
        page = _login_page(request, safe_next(next), error=message, email=email, status=429)
        page.headers["Retry-After"] = str(math.ceil(outcome.retry_after))
        return page
    if outcome.signed is None:
        return _login_page(
            request, safe_next(next), error=_("Wrong e-mail or password."), email=email, status=401
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookies(response, state, outcome.signed)
    if known_device(state.settings, email, device) is None:
        response.set_cookie(
            DEVICE_COOKIE,
            new_device_token(state.settings, email),
            max_age=DEVICE_DAYS * 86400,
            httponly=True,
            secure=state.settings.panel_secure_cookies,
            samesite="strict",
            path="/panel/login",
        )
    return response


@router.get("/refresh", response_model=None)
async def refresh_session(request: Request, state: StateDep, next: str | None = None) -> Response:
    """An expired access token with a live refresh token: rotate both, go back."""
    token = request.cookies.get(REFRESH_COOKIE)
    target = safe_next(next)
    if not token:
        return RedirectResponse(f"/panel/login?next={quote(target)}", status_code=303)
    keys = TokenKeys.from_settings(state.settings)
    async with transaction(state.sessionmaker) as session:
        try:
            signed: SignedIn | None = await refresh(
                session, keys, state.settings, refresh_token=token, now=datetime.now(UTC)
            )
        except RefreshFailed:  # caught inside: a reuse's revocation and audit are committed
            signed = None
    if signed is None:
        response = RedirectResponse(f"/panel/login?next={quote(target)}", status_code=303)
        clear_session_cookies(response)
        return response
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, state, signed)
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, state: StateDep, principal: PageUser) -> Response:
    await check_form_csrf(state, request, principal)
    async with transaction(state.sessionmaker) as session:
        await sign_out(session, session_id=principal.session_id, actor=principal.email)
    response = RedirectResponse("/panel/login", status_code=303)
    clear_session_cookies(response)
    return response
