"""The audit log, newest first, with a check that the keyed hash chain is whole (rows under a
retired key are shown as not checked, never as intact)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.api.deps import StateDep
from services.api.security import PageUser, ensure
from services.core.audit.service import ChainCheck, recent_events, verify
from services.core.auth.roles import Action

from .context import render
from .formatting import zone_book
from .i18n import gettext as _
from .i18n import ngettext

router = APIRouter(prefix="/panel", include_in_schema=False)


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    state: StateDep,
    principal: PageUser,
    action: str = Query("", max_length=64),
) -> HTMLResponse:
    scope = principal.tenant_scope()
    ensure(principal, Action.VIEW_AUDIT, scope)
    async with state.sessionmaker() as session:
        events = await recent_events(session, tenant_id=scope, action=action, limit=200)
        chain = await verify(session) if scope is None else None
    zones = await zone_book(state, principal)
    return render(
        request,
        state,
        principal,
        "audit.html",
        "audit",
        events=events,
        chain=chain,
        chain_text=chain_text(chain) if chain else None,
        action=action,
        zones=zones,
    )


def chain_text(chain: ChainCheck) -> str:
    """The chain check in the reader's language (core's ``summary`` is the CLI's English)."""
    if chain.broken_at is not None:
        why = {
            "link": _("it does not follow the event before it"),
            "no_key": _("it names no key"),
            "hash": _("its hash does not match its content under its key"),
        }.get(chain.reason or "")
        line = _("chain broken at event %(id)s") % {"id": chain.broken_at}
        return f"{line}: {why}" if why else line
    checked = chain.rows - chain.unverifiable
    line = ngettext(
        "hash chain intact · %(num)d event checked",
        "hash chain intact · %(num)d events checked",
        checked,
    ) % {"num": checked}
    if chain.unverifiable:
        keys = ", ".join(chain.retired_keys)
        line += "; " + ngettext(
            "%(num)d under a retired key not checked (key %(keys)s is no longer in "
            "ATENDE_SECRET_KEY or ATENDE_PREVIOUS_SECRET_KEYS)",
            "%(num)d under a retired key not checked (keys %(keys)s are no longer in "
            "ATENDE_SECRET_KEY or ATENDE_PREVIOUS_SECRET_KEYS)",
            len(chain.retired_keys),
        ) % {"num": chain.unverifiable, "keys": keys}
    return line
