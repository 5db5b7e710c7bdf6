"""Customer data (LGPD): a tenant's admins, or the platform's, find a customer by phone, see
what is stored about them, download it as JSON, and erase it after typing the phone again.
Agents and viewers are refused. Every lookup and download is audited as an export, every
erasure as ``contact.forgotten``; both name the customer only by a keyed hash."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.api import operations, privacy_operations
from services.api.deps import StateDep
from services.api.security import PageUser, check_form_csrf, ensure
from services.core.auth.roles import Action, Principal, scope_of
from services.core.errors import InvalidInput
from services.core.privacy.subject import normalize_phone

from .context import render
from .formatting import zone_book
from .i18n import gettext as _
from .i18n import ngettext

router = APIRouter(prefix="/panel", include_in_schema=False)
# Who may read and erase a customer's data: the tenant's admins and the platform's, the same
# people who read the audit log that records it.
MAY = Action.VIEW_AUDIT
Phone = Annotated[str, Query(max_length=40)]
Slug = Annotated[str, Query(max_length=63)]


@dataclass(frozen=True, slots=True)
class Summary:
    """What the page shows of an export document."""

    found: bool
    names: list[str]
    emails: list[str]
    conversations: int
    messages: int
    replies: int
    handoffs: int
    events: int
    first: datetime | None
    last: datetime | None

    @classmethod
    def of(cls, document: dict[str, Any]) -> Summary:
        conversations = document["conversations"]
        received = sorted(
            datetime.fromisoformat(m["received_at"]) for c in conversations for m in c["messages"]
        )
        return cls(
            found=document["found"],
            names=sorted({c["name"] for c in document["contacts"] if c["name"]}),
            emails=sorted({c["email"] for c in document["contacts"] if c["email"]}),
            conversations=len(conversations),
            messages=len(received),
            replies=sum(len(c["replies"]) for c in conversations),
            handoffs=sum(len(c["handoffs"]) for c in conversations),
            events=len(document["events"]),
            first=received[0] if received else None,
            last=received[-1] if received else None,
        )


def _allowed(principal: Principal) -> None:
    ensure(principal, MAY, principal.tenant_scope())


def _actor(principal: Principal) -> str:
    return principal.email  # as every panel action is audited


@router.get("/contacts", response_class=HTMLResponse)
async def contacts_page(
    request: Request, state: StateDep, principal: PageUser, tenant: Slug = "", phone: Phone = ""
) -> HTMLResponse:
    _allowed(principal)
    tenants = await operations.visible_tenants(state, principal)
    if not tenant and len(tenants) == 1:
        tenant = tenants[0].slug
    summary, problem, digits = None, None, ""
    if tenant and phone:
        try:
            digits = normalize_phone(phone)
        except InvalidInput:
            problem = _("A phone is 8 to 20 digits, with the country code.")
        else:
            document = await privacy_operations.export_contact(
                state, tenant, digits, scope_of(principal), actor=_actor(principal)
            )
            summary = Summary.of(document)
    zones = await zone_book(state, principal)
    return render(
        request,
        state,
        principal,
        "contacts.html",
        "contacts",
        tenants=tenants,
        tenant=tenant,
        phone=phone,
        digits=digits,
        summary=summary,
        problem=problem,
        zone=zones.of(tenant),
        export_query=urlencode({"tenant": tenant, "phone": digits}),
    )


@router.get("/contacts/export")
async def export_download(
    state: StateDep, principal: PageUser, tenant: Slug, phone: Phone
) -> Response:
    _allowed(principal)
    digits = normalize_phone(phone)
    document = await privacy_operations.export_contact(
        state, tenant, digits, scope_of(principal), actor=_actor(principal)
    )
    name = f"atende-{tenant}-{digits}.json"
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/contacts/forget")
async def forget(
    request: Request,
    state: StateDep,
    principal: PageUser,
    tenant: Annotated[str, Form(max_length=63)],
    phone: Annotated[str, Form(max_length=40)],
    confirm: Annotated[str, Form(max_length=40)] = "",
) -> RedirectResponse:
    await check_form_csrf(state, request, principal)
    _allowed(principal)
    digits = normalize_phone(phone)
    back = {"tenant": tenant, "phone": digits}
    if "".join(ch for ch in confirm if ch.isdigit()) != digits:
        message = _("Type the phone again to confirm the erasure.")
        return _back(back, message, "error")
    done = await privacy_operations.forget_contact(
        state, tenant, digits, scope_of(principal), actor=_actor(principal)
    )
    erased = sum(done.erasure.erased.values())
    message = ngettext(
        "Erased %(num)d record of this customer; the audit log keeps only that it happened.",
        "Erased %(num)d records of this customer; the audit log keeps only that it happened.",
        erased,
    ) % {"num": erased}
    if done.in_flight:
        message += " " + _("A reply was being written: erase again in a minute.")
    return _back(back, message, "ok")


def _back(query: dict[str, str], message: str, kind: str) -> RedirectResponse:
    target = f"/panel/contacts?{urlencode(query)}&kind={kind}&flash={quote(message)}"
    return RedirectResponse(target, status_code=303)
