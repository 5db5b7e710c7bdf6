"""A tenant's own admins editing the delegated parts of its bot (``spec.delegation``).

:func:`edit` is the one way a panel edit is made: the value goes through the same models a
BotTenant's does (and the whole spec's checks, such as a fixed message promising only what is
configured), so the panel never stores what ``tenants apply`` would refuse. It is made against
the version the form was read at: a second admin saving over an edit they have not seen gets
:class:`EditConflict`, never a silent overwrite. Every edit is audited (``tenant.settings``,
with what changed from what), bumps the tenant's version so every process reloads it
(:func:`announce`, after the commit), and an FAQ edit re-indexes the knowledge at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from arq.connections import ArqRedis
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs, knowledge
from services.core.audit import service as audit
from services.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.core.models import Tenant, TenantOverlay

from .changes import changes
from .delegation import Delegable
from .knowledge_refs import MAX_KNOWLEDGE_CHARS
from .messages import MessagesSpec
from .notify import tenant_changed
from .overlay import Owned, field_value, overlays, with_value
from .spec import BotTenantSpec, BusinessHoursSpec, KnowledgeSpec

EDITED = "tenant.settings"  # audit action of a panel edit
_NAMED = re.compile(r"messages\.(\w+)")
# A value error's words (messages.py, spec.py) -> the kind of problem the panel explains.
_VALUE_ERRORS = (
    ("unknown placeholder", "placeholder"),
    ("lone {", "placeholder"),
    ("only allowed in messages.wait", "wait_only"),
    ("{palavra}", "needs_keyword"),
    ("{horario}", "needs_hours"),
    ("HH:MM-HH:MM", "hours_range"),
)


@dataclass(frozen=True, slots=True)
class Setting:
    """A delegable field as the panel shows it: its value in force and who set it."""

    field: Delegable
    delegated: bool  # listed in spec.delegation.panelOwns: the panel may edit it
    value: dict[str, Any]
    version: int  # 0: never edited in the panel (the BotTenant's value)
    updated_by: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a value was refused, by its place in the field (``entries.0.answer``, ``wait``,
    ``weekly.mon``): ``kind`` is pydantic's error type (or ours), ``limit`` its bound."""

    path: str
    kind: str
    message: str
    limit: int | None = None


class SettingsInvalid(InvalidInput):
    status_code = 422

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path or 'value'}: {p.message}" for p in problems))
        self.problems = problems


class EditConflict(Conflict):
    """The field changed since the form was read: who changed it, and when."""

    def __init__(self, field: Delegable, owned: Owned) -> None:
        super().__init__(
            f"{field.value} was changed by {owned.updated_by} at "
            f"{owned.updated_at:%Y-%m-%d %H:%M} UTC since this form was opened"
        )
        self.field = field
        self.owned = owned


class NotDelegated(Forbidden):
    def __init__(self, field: Delegable) -> None:
        super().__init__(f"{field.value} is managed by the platform (not in delegation.panelOwns)")
        self.field = field


@dataclass(frozen=True, slots=True)
class Edited:
    tenant_id: int
    slug: str
    field: Delegable
    outcome: Literal["updated", "unchanged"]
    version: int  # the field's
    # Set when the FAQ changed: the knowledge version the embedding job indexes.
    knowledge_version: str | None = None


def spec_of(tenant: Tenant) -> BotTenantSpec:
    return BotTenantSpec.model_validate(tenant.spec)


async def read_settings(session: AsyncSession, tenant: Tenant) -> dict[Delegable, Setting]:
    spec = spec_of(tenant)
    rows = await overlays(session, tenant.id)
    found = {}
    for field in Delegable:
        row = rows.get(field)
        found[field] = Setting(
            field,
            spec.delegation.owns(field),
            field_value(spec, field),
            row.version if row else 0,
            row.updated_by if row else None,
            row.updated_at if row else None,
        )
    return found


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _kind(kind: str, message: str) -> str:
    """Our names for the value errors the panel explains in its own words."""
    if kind != "value_error":
        return kind
    for marker, name in _VALUE_ERRORS:
        if marker in message:
            return name
    return kind


def _problems(exc: ValidationError) -> list[Problem]:
    found = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        limit = ctx.get("max_length", ctx.get("min_length"))
        message = str(ctx.get("error", err["msg"]))
        kind = _kind(err["type"], message)
        found.append(Problem(_path(err["loc"]), kind, message, limit))
    return found


def _own_model(field: Delegable, value: Mapping[str, Any]) -> dict[str, Any]:
    """The field's value checked alone, normalized to the overlay's shape."""
    match field:
        case Delegable.KNOWLEDGE:
            spec = KnowledgeSpec.model_validate({"entries": value.get("entries", [])})
            chars = sum(len(e.question) + len(e.answer) for e in spec.entries)
            if chars > MAX_KNOWLEDGE_CHARS:
                message = f"{chars} characters of questions and answers; at most"
                raise SettingsInvalid(
                    [Problem("entries", "too_many_chars", message, MAX_KNOWLEDGE_CHARS)]
                )
            return {"entries": [e.model_dump(mode="json", by_alias=True) for e in spec.entries]}
        case Delegable.MESSAGES:
            messages = MessagesSpec.model_validate(value)
            return messages.model_dump(mode="json", by_alias=True, exclude_none=True)
        case Delegable.BUSINESS_HOURS:
            hours = BusinessHoursSpec.model_validate(value)
            try:
                ZoneInfo(hours.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                problem = Problem("timezone", "timezone", f"unknown time zone {hours.timezone!r}")
                raise SettingsInvalid([problem]) from None
            return hours.model_dump(mode="json", by_alias=True)


def _whole_spec_problems(field: Delegable, exc: ValidationError) -> list[Problem]:
    """The spec's own checks (a fixed message naming a keyword the bot has none of), put on
    the fields they name."""
    found = []
    for problem in _problems(exc):
        kind = _kind("value_error", problem.message)
        if field is Delegable.MESSAGES and (named := _NAMED.findall(problem.message)):
            found += [Problem(name, kind, problem.message) for name in dict.fromkeys(named)]
        elif field is Delegable.BUSINESS_HOURS:
            found.append(Problem("weekly", kind, problem.message))
        else:
            found.append(Problem("", kind, problem.message))
    return found


def checked(spec: BotTenantSpec, field: Delegable, value: Mapping[str, Any]) -> BotTenantSpec:
    """The spec with ``field`` set to ``value``, or :class:`SettingsInvalid`."""
    try:
        normalized = _own_model(field, value)
    except ValidationError as exc:
        raise SettingsInvalid(_problems(exc)) from None
    data = with_value(spec.model_dump(mode="json", by_alias=True), field, normalized)
    try:
        return BotTenantSpec.model_validate(data)
    except ValidationError as exc:
        raise SettingsInvalid(_whole_spec_problems(field, exc)) from None


async def edit(
    session: AsyncSession,
    slug: str,
    field: Delegable,
    value: Mapping[str, Any],
    *,
    expected_version: int,
    actor: str,
) -> Edited:
    """Set a delegated field of ``slug`` to ``value``, made against ``expected_version`` (the
    field's version the form showed). The caller commits, then :func:`announce`."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug).with_for_update())
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    spec = spec_of(tenant)
    if not spec.delegation.owns(field):
        raise NotDelegated(field)
    new = checked(spec, field, value)
    row = (await overlays(session, tenant.id)).get(field)
    before, after = field_value(spec, field), field_value(new, field)
    if before == after:
        return Edited(tenant.id, slug, field, "unchanged", row.version if row else 0)
    if (row.version if row else 0) != expected_version:
        if row is None:  # no version but 0 was ever shown: not a form of this page
            raise InvalidInput("this form does not match the stored settings; reload the page")
        raise EditConflict(field, Owned.of(row))
    now = datetime.now(UTC)
    if row is None:
        row = TenantOverlay(tenant_id=tenant.id, field=field.value, version=0)
        session.add(row)
    row.value, row.version, row.updated_by, row.updated_at = after, row.version + 1, actor, now
    tenant.spec = new.model_dump(mode="json", by_alias=True)
    tenant.version += 1
    await session.flush()
    details = {"field": field.value, "version": row.version, **changes(field, before, after)}
    await audit.record(session, actor=actor, action=EDITED, tenant_id=tenant.id, details=details)
    indexed = None
    if field is Delegable.KNOWLEDGE:
        language, entries = new.persona.language, new.knowledge.entries
        await knowledge.sync(session, tenant.id, language, entries)
        indexed = knowledge.knowledge_version(language, entries)
    return Edited(tenant.id, slug, field, "updated", row.version, indexed)


async def announce(redis: ArqRedis, edited: Edited) -> None:
    """After the commit: every process reloads the tenant (its next turn uses the edit), and
    a changed FAQ gets its vectors (the sweeper backs a lost enqueue up)."""
    if edited.outcome != "updated":
        return
    await tenant_changed(redis, edited.slug)
    if edited.knowledge_version is not None:
        await jobs.enqueue_embedding(redis, edited.tenant_id, edited.knowledge_version)


def entries_of(setting: Setting) -> list[dict[str, str]]:
    return [dict(e) for e in setting.value.get("entries", [])]


def with_entry(
    setting: Setting, position: int | None, question: str, answer: str
) -> dict[str, Any]:
    """The FAQ with entry ``position`` replaced (None: one added at the end)."""
    entries = entries_of(setting)
    entry = {"question": question.strip(), "answer": answer.strip()}
    if position is None:
        entries.append(entry)
    elif 0 <= position < len(entries):
        entries[position] = entry
    else:
        raise NotFound(f"no FAQ entry {position + 1}")
    return {"entries": entries}


def without_entry(setting: Setting, position: int) -> dict[str, Any]:
    entries = entries_of(setting)
    if not 0 <= position < len(entries):
        raise NotFound(f"no FAQ entry {position + 1}")
    del entries[position]
    return {"entries": entries}
