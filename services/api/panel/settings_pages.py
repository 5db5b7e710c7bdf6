"""A tenant's settings page: the FAQ, fixed messages and business hours its own admins edit
where the BotTenant delegates them (``spec.delegation``), and who changed what, when.

Each form carries the version of the field it shows; an edit against an older one is refused
(someone else saved first) and the page says who and when, keeping the unsaved text. A value
the BotTenant's models refuse comes back with the reason next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic.alias_generators import to_camel

from services.api.deps import StateDep
from services.api.security import PageUser, check_form_csrf, ensure
from services.api.state import AppState
from services.core.auth.roles import Action, Principal, scope_of
from services.core.db import transaction
from services.core.handoff.messages import say
from services.core.tenants import settings
from services.core.tenants.changes import history
from services.core.tenants.delegation import Delegable
from services.core.tenants.messages import MAX_MESSAGE_CHARS, Kind, MessagesSpec
from services.core.tenants.queries import visible_tenant
from services.core.tenants.spec import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, Weekday

from .context import render
from .formatting import when_text, zone_name
from .i18n import gettext as _
from .settings_errors import explain

router = APIRouter(prefix="/panel", include_in_schema=False)
Text = Annotated[str, Form(max_length=20_000)]
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _local(at: datetime | None, timezone: str) -> str:
    """dd/mm/aaaa HH:MM (in pt-BR) in the tenant's time zone, saying which."""
    return "—" if at is None else f"{when_text(at, timezone)} ({zone_name(timezone)})"


def _labels() -> dict[str, str]:
    """Each fixed message and business-hours part, in the reader's language."""
    return {
        Kind.FALLBACK.value: _("When a turn cannot be answered"),
        Kind.NO_ANSWER.value: _("When nothing in the FAQ matches (without the model)"),
        Kind.HANDOFF.value: _("Handed to a person, in business hours"),
        Kind.HANDOFF_AFTER_HOURS.value: _("Handed to a person, out of business hours"),
        Kind.STILL_WAITING.value: _("Asks again for a person while nobody is at work"),
        Kind.WAIT.value: _("A rate limit keeps the customer waiting"),
        Kind.BLOCKED.value: _("The model's reply was blocked"),
        Kind.BUDGET_SPENT.value: _("The monthly token budget is used up"),
        Kind.MEDIA_NOT_UNDERSTOOD.value: _("Audio or an image the bot cannot read"),
        "timezone": _("Time zone"),
        "holidays": _("Holidays"),
        **{f"weekly.{d.value}": _day(d) for d in Weekday},
    }


def _day(day: Weekday) -> str:
    names = {
        Weekday.MON: _("Monday"),
        Weekday.TUE: _("Tuesday"),
        Weekday.WED: _("Wednesday"),
        Weekday.THU: _("Thursday"),
        Weekday.FRI: _("Friday"),
        Weekday.SAT: _("Saturday"),
        Weekday.SUN: _("Sunday"),
    }
    return names[day]


async def _page(
    request: Request,
    state: AppState,
    principal: Principal,
    slug: str,
    *,
    status_code: int = 200,
    errors: Mapping[str, str] | None = None,
    form: str | None = None,
    submitted: Mapping[str, Any] | None = None,
    problem: str | None = None,
) -> HTMLResponse:
    async with state.sessionmaker() as session:
        tenant = await visible_tenant(session, scope_of(principal), slug)
        ensure(principal, Action.EDIT_BOT, tenant.id)
        found = await settings.read_settings(session, tenant)
        changes = await history(session, tenant.id)
    spec = settings.spec_of(tenant)
    timezone = spec.business_hours.timezone
    plain = spec.model_copy(update={"messages": MessagesSpec()})
    now = datetime.now(UTC)
    defaults = {kind.value: say(plain, kind, now) for kind in Kind}
    return render(
        request,
        state,
        principal,
        "settings.html",
        "tenants",
        status_code=status_code,
        tenant=tenant,
        settings=found,
        fields=Delegable,
        kinds=list(Kind),
        days=list(Weekday),
        labels=_labels(),
        defaults=defaults,
        changes=changes,
        local=lambda at: _local(at, timezone),
        timezone=timezone,
        errors=errors or {},
        form=form,
        submitted=submitted or {},
        problem=problem,
        limits={
            "question": MAX_QUESTION_CHARS,
            "answer": MAX_ANSWER_CHARS,
            "message": MAX_MESSAGE_CHARS,
        },
    )


@router.get("/tenants/{slug}/settings", response_class=HTMLResponse)
async def settings_page(
    request: Request, state: StateDep, principal: PageUser, slug: str
) -> HTMLResponse:
    return await _page(request, state, principal, slug)


Build = Callable[[settings.Setting], dict[str, Any]]


async def _save(
    request: Request,
    state: AppState,
    principal: Principal,
    slug: str,
    field: Delegable,
    build: Build,
    version: int,
    *,
    form: str,
    submitted: Mapping[str, Any],
    done: str,
) -> Response:
    """One edit at the request boundary: the transaction, the announcement after the commit,
    and the page again with the reason when it was refused."""
    await check_form_csrf(state, request, principal)
    try:
        async with transaction(state.sessionmaker) as session:
            tenant = await visible_tenant(session, scope_of(principal), slug)
            ensure(principal, Action.EDIT_BOT, tenant.id)
            current = (await settings.read_settings(session, tenant))[field]
            edited = await settings.edit(
                session,
                slug,
                field,
                build(current),
                expected_version=version,
                actor=principal.email,
            )
    except settings.SettingsInvalid as exc:
        errors = {_form_field(field, p.path): explain(p) for p in exc.problems}
        return await _page(
            request, state, principal, slug, status_code=422, errors=errors, form=form,
            submitted=submitted, problem=_("Not saved: see the fields marked below."),
        )  # fmt: skip
    except settings.EditConflict as exc:
        timezone = "UTC"
        async with state.sessionmaker() as session:
            tenant = await visible_tenant(session, scope_of(principal), slug)
            timezone = settings.spec_of(tenant).business_hours.timezone
        problem = _(
            "Not saved: %(who)s changed this on %(when)s, after you opened the page. "
            "Below is the version now in force; your unsaved text is kept beside it."
        ) % {"who": exc.owned.updated_by, "when": _local(exc.owned.updated_at, timezone)}
        return await _page(
            request, state, principal, slug, status_code=409, form=form, problem=problem,
            submitted={"conflict": True, **submitted},
        )  # fmt: skip
    state.tenants.invalidate(slug)  # this process at once, the others by the notice
    await settings.announce(state.redis, edited)
    message = done if edited.outcome == "updated" else _("Nothing changed.")
    anchor = field.value
    return RedirectResponse(
        f"/panel/tenants/{slug}/settings?flash={quote(message)}#{anchor}", status_code=303
    )


def _form_field(field: Delegable, path: str) -> str:
    """Where a problem goes on the page: ``entry`` fields by name, messages by camelCase."""
    parts = path.split(".") if path else []
    if field is Delegable.KNOWLEDGE:
        return parts[-1] if len(parts) >= 3 else "entries"
    if field is Delegable.MESSAGES:
        return to_camel(parts[0]) if parts else "messages"
    return parts[0] if parts else "businessHours"


async def _entry(
    request: Request,
    state: AppState,
    principal: Principal,
    slug: str,
    position: int | None,
    version: int,
    question: str,
    answer: str,
) -> Response:
    """Add (``position`` None) or replace one FAQ entry."""
    done = _("FAQ entry added; the next answers use it.") if position is None else None
    return await _save(
        request, state, principal, slug, Delegable.KNOWLEDGE,
        lambda s: settings.with_entry(s, position, question, answer), version,
        form="entry-new" if position is None else f"entry-{position}",
        submitted={"question": question, "answer": answer},
        done=done or _("FAQ entry saved; the next answers use it."),
    )  # fmt: skip


@router.post("/tenants/{slug}/settings/knowledge")
async def add_entry(
    request: Request, state: StateDep, principal: PageUser, slug: str,
    version: Annotated[int, Form()], question: Text = "", answer: Text = "",
) -> Response:  # fmt: skip
    return await _entry(request, state, principal, slug, None, version, question, answer)


@router.post("/tenants/{slug}/settings/knowledge/{position}")
async def edit_entry(
    request: Request, state: StateDep, principal: PageUser, slug: str, position: int,
    version: Annotated[int, Form()], question: Text = "", answer: Text = "",
) -> Response:  # fmt: skip
    return await _entry(request, state, principal, slug, position, version, question, answer)


@router.post("/tenants/{slug}/settings/knowledge/{position}/delete")
async def delete_entry(
    request: Request,
    state: StateDep,
    principal: PageUser,
    slug: str,
    position: int,
    version: Annotated[int, Form()],
) -> Response:
    return await _save(
        request, state, principal, slug, Delegable.KNOWLEDGE,
        lambda s: settings.without_entry(s, position), version,
        form=f"entry-{position}", submitted={}, done=_("FAQ entry deleted."),
    )  # fmt: skip


@router.post("/tenants/{slug}/settings/messages")
async def save_messages(
    request: Request, state: StateDep, principal: PageUser, slug: str
) -> Response:
    form = await request.form()
    version = _version(form.get("version"))
    texts = {kind.value: str(form.get(kind.value) or "")[:20_000] for kind in Kind}
    value = {name: text.strip() for name, text in texts.items() if text.strip()}
    return await _save(
        request, state, principal, slug, Delegable.MESSAGES, lambda _s: value, version,
        form="messages", submitted=texts, done=_("Fixed messages saved."),
    )  # fmt: skip


@router.post("/tenants/{slug}/settings/businessHours")
async def save_hours(request: Request, state: StateDep, principal: PageUser, slug: str) -> Response:
    form = await request.form()
    version = _version(form.get("version"))
    texts = {d.value: str(form.get(f"weekly.{d.value}") or "")[:2000] for d in Weekday}
    holidays = str(form.get("holidays") or "")[:20_000]
    timezone = str(form.get("timezone") or "").strip()[:100]
    weekly = {
        day: re.split(r"[\s,;]+", text.strip()) for day, text in texts.items() if text.strip()
    }
    dates = [_iso(line) for line in re.split(r"[\s,;]+", holidays.strip()) if line]
    value = {"timezone": timezone, "weekly": weekly, "holidays": dates}
    submitted = {
        "timezone": timezone,
        "holidays": holidays,
        **{f"weekly.{d}": t for d, t in texts.items()},
    }
    return await _save(
        request, state, principal, slug, Delegable.BUSINESS_HOURS, lambda _s: value, version,
        form="businessHours", submitted=submitted, done=_("Business hours saved."),
    )  # fmt: skip


def _version(raw: object) -> int:
    try:
        return int(str(raw))
    except ValueError:
        return -1  # never a stored version: refused as a conflict


def _iso(text: str) -> str:
    """dd/mm/aaaa as the date it names (ISO); anything else as written, for the model to refuse."""
    found = _DMY.match(text)
    if found is None:
        return text
    day, month, year = found.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}"
