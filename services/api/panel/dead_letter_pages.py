"""Dead letters: what failed and why; replay one or many (new job ids, idempotent) or discard
with a reason. Both are audited."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import Field

from services.api import operations
from services.api.deps import RowId, StateDep
from services.api.security import PageUser, check_form_csrf
from services.core.auth.roles import Action

from .context import render
from .error_text import known_message
from .formatting import zone_book
from .i18n import gettext as _

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(
    request: Request, state: StateDep, principal: PageUser, show: str = "open"
) -> HTMLResponse:
    letters = await operations.dead_letters(state, principal, show_all=show == "all")
    can_replay = principal.can(Action.REPLAY, principal.tenant_scope())
    zones = await zone_book(state, principal)
    return render(
        request,
        state,
        principal,
        "dead_letters.html",
        "dead-letters",
        letters=letters,
        show=show,
        can_replay=can_replay,
        zones=zones,
    )


@router.post("/dead-letters/replay")
async def replay(
    request: Request,
    state: StateDep,
    principal: PageUser,
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**63 - 1)]], Form(max_length=200)],
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    outcomes = await operations.replay(state, principal, ids)
    return _back("; ".join(outcome_text(line) for line in outcomes))


@router.post("/dead-letters/{dead_letter_id}/discard")
async def discard(
    request: Request,
    state: StateDep,
    principal: PageUser,
    dead_letter_id: RowId,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    outcome = await operations.discard(state, principal, dead_letter_id, reason)
    return _back(outcome_text(outcome))


def outcome_text(line: str) -> str:
    """``#12: replayed (queued)`` from the shared operation, in the reader's language."""
    number, _sep, what = line.partition(": ")
    ours = {
        "replayed (queued)": _("replayed (queued)"),
        "replayed (already_queued)": _("replayed (it was already queued)"),
        "replayed (failed)": _("replayed (it will be queued again shortly)"),
        "discarded": _("discarded"),
    }
    said = ours.get(what) or known_message(what) or what
    return f"{number}: {said}"


def _back(message: str) -> RedirectResponse:
    return RedirectResponse(f"/panel/dead-letters?flash={quote(message)}", status_code=303)
