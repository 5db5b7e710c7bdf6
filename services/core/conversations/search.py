"""The conversations list people work from: search, filters and keyset pages.

Ordered by last activity (the customer's last message, or when the conversation began), newest
first, ties by id; a page starts after (or, going back, before) the last row the reader saw, so
rows that arrive meanwhile shift nothing and no row is shown twice or skipped. Never OFFSET.

A conversation is in exactly one state:

* ``bot`` — the bot answers (``conversations.state = 'bot'``);
* ``waiting`` — handed to a person, and no person has answered yet: an active handoff
  (requested, transferred or failed) with no sign of a person (``human_seen_at`` empty);
* ``human`` — with a person: handed over and a person answered (or took the ticket).

The tenant filter and every row go through the caller's scope in the SQL, and dates are days in
each tenant's own timezone (``spec.businessHours.timezone``, São Paulo by default).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import BigInteger, DateTime, cast, func, literal, not_, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import ACTIVE_HANDOFF_STATES, Contact, Conversation, Handoff, Tenant
from services.core.models import InboundMessage as Inbound

from .queries import escape_like

PAGE = 25
STATES = ("bot", "waiting", "human")
DEFAULT_TIMEZONE = "America/Sao_Paulo"
Direction = Literal["after", "before"]


@dataclass(frozen=True, slots=True)
class Filters:
    search: str = ""
    tenant: str = ""  # a slug; one outside the caller's scope matches nothing
    state: str = ""  # one of STATES, or any
    since: date | None = None  # last activity on or after this day (the tenant's timezone)
    until: date | None = None  # ... on or before this day
    sla_breached: bool = False  # a handoff of the conversation missed its SLA
    campaign: str = ""


@dataclass(frozen=True, slots=True)
class Listed:
    id: int
    tenant: str
    timezone: str
    phone: str | None
    name: str | None
    connection: str
    state: str  # bot | waiting | human
    campaign: str | None
    sla_breached: bool
    last_activity_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Listed]
    newer: str | None  # the cursor of the page before (newer rows), if any
    older: str | None  # the cursor of the page after (older rows), if any


def cursor_of(row: Listed) -> str:
    raw = f"{row.last_activity_at.isoformat()}|{row.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_cursor(cursor: str) -> tuple[datetime, int] | None:
    """None for anything that is not a cursor this module wrote (a tampered one shows page 1)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, row_id = raw.split("|")
        parsed = datetime.fromisoformat(at)
        return (parsed, int(row_id)) if parsed.tzinfo is not None else None
    except (ValueError, UnicodeDecodeError, binascii.Error):
        return None


def _activity() -> Any:
    return func.coalesce(Conversation.last_inbound_at, Conversation.created_at)


def _timezone() -> Any:
    return func.coalesce(Tenant.spec["businessHours"]["timezone"].astext, DEFAULT_TIMEZONE)


def _waiting() -> Any:
    return (
        select(Handoff.id)
        .where(
            Handoff.conversation_id == Conversation.id,
            Handoff.status.in_(ACTIVE_HANDOFF_STATES),
            Handoff.human_seen_at.is_(None),
        )
        .exists()
    )


def _breached() -> Any:
    return (
        select(Handoff.id)
        .where(Handoff.conversation_id == Conversation.id, Handoff.sla_breached_at.is_not(None))
        .exists()
    )


def _local_midnight(day: date) -> Any:
    """The instant ``day`` begins in the row's tenant's timezone."""
    return func.timezone(_timezone(), cast(literal(day.isoformat()), DateTime(timezone=False)))


def _searched(term: str) -> Any:
    """Phone digits (partial), the contact's name, or words the customer wrote."""
    pattern = f"%{escape_like(term)}%"
    said = select(Inbound.id).where(
        Inbound.conversation_id == Conversation.id,
        Inbound.tenant_id == Conversation.tenant_id,
        Inbound.text.ilike(pattern, escape="\\"),
    )
    matches = [Contact.name.ilike(pattern, escape="\\"), said.exists()]
    digits = re.sub(r"\D", "", term)
    if digits and re.fullmatch(r"[\d\s()+.\-]+", term):
        matches.append(Contact.phone.like(f"%{digits}%"))
    return or_(*matches)


def _filtered(query: Any, scope: Collection[int] | None, filters: Filters) -> Any:
    if scope is not None:
        query = query.where(Conversation.tenant_id.in_(list(scope)))
    if filters.tenant:
        query = query.where(Tenant.slug == filters.tenant)
    if filters.state == "bot":
        query = query.where(Conversation.state == "bot")
    elif filters.state == "waiting":
        query = query.where(Conversation.state == "human", _waiting())
    elif filters.state == "human":
        query = query.where(Conversation.state == "human", not_(_waiting()))
    if filters.since is not None:
        query = query.where(_activity() >= _local_midnight(filters.since))
    if filters.until is not None:
        query = query.where(_activity() < _local_midnight(filters.until + timedelta(days=1)))
    if filters.sla_breached:
        query = query.where(_breached())
    if filters.campaign:
        query = query.where(Conversation.campaign == filters.campaign)
    if filters.search.strip():
        query = query.where(_searched(filters.search.strip()))
    return query


async def search_conversations(
    session: AsyncSession,
    *,
    scope: Collection[int] | None,
    filters: Filters,
    cursor: str | None = None,
    direction: Direction = "after",
    limit: int = PAGE,
) -> Page:
    """One page of conversations, newest activity first; ``cursor`` with ``after`` gives the
    page of older rows, with ``before`` the page of newer ones."""
    waiting = _waiting()
    query = _filtered(
        select(
            Conversation.id,
            Tenant.slug.label("tenant"),
            _timezone().label("timezone"),
            Contact.phone,
            Contact.name,
            Conversation.connection,
            Conversation.state,
            waiting.label("waiting"),
            Conversation.campaign,
            _breached().label("sla_breached"),
            _activity().label("last_activity_at"),
        )
        .join(Tenant, Tenant.id == Conversation.tenant_id)
        .join(Contact, Contact.id == Conversation.contact_id),
        scope,
        filters,
    )
    key = tuple_(_activity(), Conversation.id)
    position = parse_cursor(cursor) if cursor else None
    backwards = position is not None and direction == "before"
    if position is not None:
        at = cast(literal(position[0]), DateTime(timezone=True))
        seen = tuple_(at, cast(literal(position[1]), BigInteger))
        query = query.where(key > seen if backwards else key < seen)
    order = (
        (_activity().asc(), Conversation.id.asc())
        if backwards
        else (_activity().desc(), Conversation.id.desc())
    )
    found = list(await session.execute(query.order_by(*order).limit(limit + 1)))
    more = len(found) > limit
    if backwards and not more:  # back at the newest rows: the first page, full
        return await search_conversations(session, scope=scope, filters=filters, limit=limit)
    found = found[:limit]
    if backwards:
        found.reverse()
    rows = [_listed(row._mapping) for row in found]
    if not rows:
        return Page(rows, None, None)
    has_newer = more if backwards else position is not None
    has_older = True if backwards else more
    return Page(
        rows,
        newer=cursor_of(rows[0]) if has_newer else None,
        older=cursor_of(rows[-1]) if has_older else None,
    )


def _listed(row: Any) -> Listed:
    values = dict(row)
    waiting = values.pop("waiting")
    if values["state"] == "human":
        values["state"] = "waiting" if waiting else "human"
    return Listed(**values)


async def campaign_names(session: AsyncSession, *, scope: Collection[int] | None) -> list[str]:
    """The campaigns the visible tenants declare (``spec.campaigns``), and ``ad``."""
    query = select(Tenant.spec["campaigns"])
    if scope is not None:
        query = query.where(Tenant.id.in_(list(scope)))
    names = {"ad"}
    for declared in await session.scalars(query):
        names.update(str(c["name"]) for c in declared or [] if isinstance(c, dict) and "name" in c)
    return sorted(names)
