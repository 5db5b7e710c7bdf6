"""Who changed what in a tenant's delegated settings, and when: read from the audit log.

Each panel edit is one hash-chained audit event (``tenant.settings``) whose details say which
field, its new version and what changed, each item with its value before and after: an FAQ
entry by its question, a fixed message by its field, business hours by timezone, day and
holidays. The log is append-only, so the history cannot be rewritten after the fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import AuditEvent

from .delegation import Delegable
from .messages import Kind
from .spec import Weekday

# What one event keeps of a bulk change (the rest is counted): the log stays small.
MAX_ITEMS = 50
HISTORY_ACTIONS = ("tenant.settings", "tenant.settings_returned")


def _faq(value: Mapping[str, Any]) -> dict[str, str]:
    return {e["question"]: e["answer"] for e in value.get("entries", [])}


def _hours(value: Mapping[str, Any]) -> dict[str, str]:
    weekly = value.get("weekly") or {}
    found = {"timezone": str(value.get("timezone", ""))}
    for day in Weekday:
        found[f"weekly.{day.value}"] = ", ".join(weekly.get(day.value, []))
    found["holidays"] = ", ".join(value.get("holidays") or [])
    return found


def _items(field: Delegable, value: Mapping[str, Any]) -> dict[str, str]:
    match field:
        case Delegable.KNOWLEDGE:
            return _faq(value)
        case Delegable.MESSAGES:
            return {kind.value: str(value[kind.value]) for kind in Kind if value.get(kind.value)}
        case Delegable.BUSINESS_HOURS:
            return _hours(value)


def changes(
    field: Delegable, before: Mapping[str, Any], after: Mapping[str, Any]
) -> dict[str, Any]:
    """The audit details of an edit: ``changes`` as ``{what, before, after}`` (None where an
    item did not exist, or a fixed message used its default), and ``more`` left out."""
    old, new = _items(field, before), _items(field, after)
    found = [
        {"what": what, "before": old.get(what), "after": new.get(what)}
        for what in dict.fromkeys([*old, *new])
        if old.get(what) != new.get(what)
    ]
    details: dict[str, Any] = {"changes": found[:MAX_ITEMS]}
    if len(found) > MAX_ITEMS:
        details["more"] = len(found) - MAX_ITEMS
    return details


@dataclass(frozen=True, slots=True)
class Change:
    """One edit (or the return of a field to the platform) as the history lists it."""

    at: datetime
    actor: str
    action: str
    field: str
    version: int
    items: list[dict[str, Any]]
    more: int = 0

    @property
    def returned(self) -> bool:
        return self.action == HISTORY_ACTIONS[1]


async def history(session: AsyncSession, tenant_id: int, *, limit: int = 50) -> list[Change]:
    """The tenant's latest settings changes, newest first."""
    rows = await session.scalars(
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id, AuditEvent.action.in_(HISTORY_ACTIONS))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    found = []
    for row in rows:
        details = row.details or {}
        found.append(
            Change(
                at=row.at,
                actor=row.actor,
                action=row.action,
                field=str(details.get("field", "")),
                version=int(details.get("version", 0)),
                items=list(details.get("changes", [])),
                more=int(details.get("more", 0)),
            )
        )
    return found
