"""The signed-in user's profile: who they are and the panel's language they read.

The choice is stored on the user (it follows them to every device, audited as
``user.locale_changed``) and remembered by this browser too, so the sign-in page after signing
out speaks it. "The browser's language" forgets it: Accept-Language decides again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api.deps import StateDep
from services.api.locale import LANG_COOKIE, from_accept_language, set_locale
from services.api.security import PageUser, check_form_csrf
from services.core.auth.profile import PANEL_LOCALES, choose_locale, locale_of
from services.core.db import transaction

from .context import render
from .i18n import gettext as _

router = APIRouter(prefix="/panel", include_in_schema=False)
LANG_COOKIE_DAYS = 365
# Each language named in itself, as language pickers do.
LANGUAGE_NAMES = {"pt_BR": "Português (Brasil)", "en": "English"}


def remember_language(response: Response, locale: str | None, *, secure: bool) -> None:
    """This browser's language, for the pages seen before signing in."""
    if locale is None:
        response.delete_cookie(LANG_COOKIE, path="/panel")
        return
    response.set_cookie(
        LANG_COOKIE,
        locale,
        max_age=LANG_COOKIE_DAYS * 86400,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/panel",
    )


@router.get("/profile", response_class=HTMLResponse)
async def profile_page(request: Request, state: StateDep, principal: PageUser) -> HTMLResponse:
    async with state.sessionmaker() as session:
        chosen = await locale_of(session, principal.user_id)
    return render(
        request,
        state,
        principal,
        "profile.html",
        "profile",
        chosen=chosen,
        now=datetime.now(UTC),
        languages=[(code, LANGUAGE_NAMES[code]) for code in PANEL_LOCALES],
        browser_language=LANGUAGE_NAMES.get(
            from_accept_language(request.headers.get("accept-language")) or ""
        ),
    )


@router.post("/profile/language")
async def choose_language(
    request: Request,
    state: StateDep,
    principal: PageUser,
    locale: Annotated[str, Form(max_length=16)] = "",
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    chosen = locale or None
    async with transaction(state.sessionmaker) as session:
        await choose_locale(
            session, user_id=principal.user_id, locale=chosen, actor=principal.email
        )
    set_locale(chosen or from_accept_language(request.headers.get("accept-language")))
    message = _("Language saved.")
    response = RedirectResponse(f"/panel/profile?flash={quote(message)}", status_code=303)
    remember_language(response, chosen, secure=state.settings.panel_secure_cookies)
    return response
