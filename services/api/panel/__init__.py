"""The internal panel under ``/panel``: server-rendered pages for helpdesk staff."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.api.errors import atende_error
from services.api.security import NeedsSignIn
from services.core.errors import AtendeError

from . import (
    audit_pages,
    auth_routes,
    contacts_pages,
    conversation_pages,
    dead_letter_pages,
    event_pages,
    handoff_pages,
    profile_pages,
    settings_pages,
    simulator_pages,
    tenant_pages,
    user_pages,
)
from .context import request_locale
from .error_text import explain
from .templating import STATIC_DIR, templates

# Every page's language is settled before its own dependencies run (the signed-in user's choice,
# applied by ``page_principal``, then overrides the browser's).
router = APIRouter(dependencies=[Depends(request_locale)])
for module in (
    auth_routes,
    tenant_pages,
    settings_pages,
    conversation_pages,
    handoff_pages,
    dead_letter_pages,
    event_pages,
    audit_pages,
    contacts_pages,
    simulator_pages,
    user_pages,
    profile_pages,
):
    router.include_router(module.router)


async def _needs_sign_in(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, NeedsSignIn)
    target = "/panel/refresh" if exc.expired else "/panel/login"
    return RedirectResponse(f"{target}?next={quote(exc.next_url)}", status_code=303)


async def _panel_error(request: Request, exc: Exception) -> Response:
    """Pages get a page; everything else keeps the API's JSON error shape."""
    assert isinstance(exc, AtendeError)
    if not request.url.path.startswith("/panel"):
        return await atende_error(request, exc)
    message, detail = explain(exc)
    context = {"status": exc.status_code, "message": message, "detail": detail, "principal": None}
    page: HTMLResponse = templates.TemplateResponse(
        request, "error.html", context, status_code=exc.status_code
    )
    return page


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/panel/static", StaticFiles(directory=STATIC_DIR), name="panel-static")
    app.add_exception_handler(NeedsSignIn, _needs_sign_in)
    app.add_exception_handler(AtendeError, _panel_error)
