"""The audit log: what operators did, append-only and hash-chained.

Each row's ``hash`` is sha256 over the previous row's hash and the canonical JSON of the row
(``at``, ``actor``, ``action``, ``tenant_id``, ``details``), so removing or editing a row breaks
every hash after it. Appends are serialized by a transaction-scoped advisory lock: two writers
never chain onto the same predecessor. Never put secrets or message bodies in ``details``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import AuditEvent

_LOCK_KEY = 0x61756474  # "audt"


def row_hash(
    prev_hash: str | None,
    *,
    at: datetime,
    actor: str,
    action: str,
    tenant_id: int | None,
    details: dict[str, Any],
) -> str:
    canonical = json.dumps(
        {
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "tenant_id": tenant_id,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(((prev_hash or "") + canonical).encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    tenant_id: int | None,
    details: dict[str, Any],
) -> AuditEvent:
    """Append one event in the caller's transaction (committed with the change it records)."""
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
    prev_hash = await session.scalar(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    )
    # Microseconds, as Postgres stores them, so the stored row re-hashes to the same value.
    at = datetime.now(UTC)
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        tenant_id=tenant_id,
        details=details,
        prev_hash=prev_hash,
        hash=row_hash(
            prev_hash, at=at, actor=actor, action=action, tenant_id=tenant_id, details=details
        ),
    )
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True, slots=True)
class ChainCheck:
    rows: int
    broken_at: int | None  # id of the first row whose link or hash does not verify

    @property
    def ok(self) -> bool:
        return self.broken_at is None


async def verify(session: AsyncSession) -> ChainCheck:
    """Recompute the whole chain from the first row."""
    prev: str | None = None
    count = 0
    for event in await session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        count += 1
        expected = row_hash(
            prev,
            at=event.at,
            actor=event.actor,
            action=event.action,
            tenant_id=event.tenant_id,
            details=event.details,
        )
        if event.prev_hash != prev or event.hash != expected:
            return ChainCheck(count, event.id)
        prev = event.hash
    return ChainCheck(count, None)


async def recent_events(
    session: AsyncSession, *, tenant_id: int | None, action: str | None = None, limit: int
) -> list[AuditEvent]:
    """Newest first; ``tenant_id`` None means every tenant's (and the platform's) events."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    if action:
        query = query.where(AuditEvent.action == action)
    return list(await session.scalars(query))
