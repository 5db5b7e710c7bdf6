"""What every panel page needs: its language, the principal, its CSRF token, the flash message."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from services.api.locale import LANG_COOKIE, negotiate, set_locale
from services.api.security import csrf_token
from services.api.state import AppState
from services.core.auth.roles import Action, Principal

from .templating import templates


def render(
    request: Request,
    state: AppState,
    principal: Principal,
    template: str,
    section: str,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    base = {
        "principal": principal,
        "csrf": csrf_token(state, principal.session_id),
        "section": section,
        "can_audit": principal.can(Action.VIEW_AUDIT, principal.tenant_scope()),
        "flash": request.query_params.get("flash"),
        "flash_kind": request.query_params.get("kind"),
    }
    return templates.TemplateResponse(request, template, base | context, status_code=status_code)


async def request_locale(request: Request) -> None:
    """The browser's language for this page (async: a context variable set in a threadpool
    would not reach the page)."""
    set_locale(
        negotiate(
            chosen=None,
            cookie=request.cookies.get(LANG_COOKIE),
            accept_language=request.headers.get("accept-language"),
        )
    )
