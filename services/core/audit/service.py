"""The audit log: what operators did, append-only and hash-chained under a key.

Each row's ``hash`` is HMAC-SHA256, under the audit key (keys.py: derived from
``ATENDE_SECRET_KEY``, never stored in the database), of the previous row's hash and the
canonical JSON of the row (``at``, ``actor``, ``action``, ``tenant_id``, ``details``); ``key_id``
names the key. Removing or editing a row breaks every hash after it, and someone who can write
to Postgres but has no key cannot recompute them. Appends are serialized by a
transaction-scoped advisory lock: two writers never chain onto the same predecessor. Never put
secrets or message bodies in ``details``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import AuditEvent

from . import pruning
from .keys import AuditKeyring, process_keyring

_LOCK_KEY = 0x61756474  # "audt"


class Chained(Protocol):
    """What a row's hash covers (an :class:`AuditEvent`, or a row of its columns)."""

    at: datetime
    actor: str
    action: str
    tenant_id: int | None
    details: dict[str, Any]


def chained(prev_hash: str | None, row: Chained) -> str:
    """What a row's hash signs: the previous row's hash, then the row's canonical JSON."""
    canonical = json.dumps(
        {
            "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": row.actor,
            "action": row.action,
            "tenant_id": row.tenant_id,
            "details": row.details,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return (prev_hash or "") + canonical


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    tenant_id: int | None,
    details: dict[str, Any],
    keyring: AuditKeyring | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (committed with the change it records),
    signed with the current key of ``keyring`` (default: this process's settings)."""
    keys = keyring or process_keyring()
    await session.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
    prev_hash = await session.scalar(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    )
    # Microseconds, as Postgres stores them, so the stored row re-hashes to the same value.
    event = AuditEvent(
        at=datetime.now(UTC),
        actor=actor,
        action=action,
        tenant_id=tenant_id,
        details=details,
        prev_hash=prev_hash,
        key_id=keys.current_id,
    )
    event.hash = keys.sign(chained(prev_hash, event))
    session.add(event)
    await session.flush()
    return event


BROKEN_BECAUSE = {
    "link": "it does not follow the event before it",
    "no_key": "it names no key",
    "hash": "its hash does not match its content under its key",
}


@dataclass(frozen=True, slots=True)
class ChainCheck:
    rows: int  # events read, up to the broken one
    broken_at: int | None  # id of the first row whose link or hash does not verify
    reason: str | None = None  # a key of BROKEN_BECAUSE
    # Rows under a key no longer in the keyring: their link is checked, their content cannot be.
    unverifiable: int = 0
    retired_keys: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken_at is None

    @property
    def summary(self) -> str:
        """One line for the panel and the CLI."""
        if self.broken_at is not None:
            why = BROKEN_BECAUSE.get(self.reason or "", "")
            return f"chain broken at event {self.broken_at}" + (f": {why}" if why else "")
        checked = self.rows - self.unverifiable
        line = f"hash chain intact · {checked} event{'' if checked == 1 else 's'} checked"
        if self.unverifiable:
            many = len(self.retired_keys) > 1
            line += (
                f"; {self.unverifiable} under a retired key not checked "
                f"({'keys' if many else 'key'} {', '.join(self.retired_keys)} "
                f"{'are' if many else 'is'} no longer in ATENDE_SECRET_KEY or "
                "ATENDE_PREVIOUS_SECRET_KEYS)"
            )
        return line


_CHAIN = select(
    AuditEvent.id,
    AuditEvent.at,
    AuditEvent.actor,
    AuditEvent.action,
    AuditEvent.tenant_id,
    AuditEvent.details,
    AuditEvent.prev_hash,
    AuditEvent.key_id,
    AuditEvent.hash,
).order_by(AuditEvent.id)


async def verify(session: AsyncSession, keyring: AuditKeyring | None = None) -> ChainCheck:
    """Recompute the whole chain from the first row, with every key of ``keyring`` (default:
    this process's settings). A row under a key the keyring no longer holds is counted as
    unverifiable, not broken; a row with no key, a wrong link or a wrong hash is broken."""
    keys = keyring or process_keyring()
    prev: str | None = None
    start = await pruning.anchors(session)  # rows before these were erased by retention
    count = unverifiable = 0
    retired: dict[str, None] = {}
    rows = await session.stream(_CHAIN.execution_options(yield_per=1000))
    async for row in rows:
        count += 1
        if count == 1 and row.prev_hash in start:
            prev = row.prev_hash  # the oldest row retention kept: its predecessor was erased
        if row.prev_hash != prev:
            return ChainCheck(count, row.id, "link", unverifiable, tuple(retired))
        if not row.key_id:
            return ChainCheck(count, row.id, "no_key", unverifiable, tuple(retired))
        verified = keys.check(row.key_id, chained(prev, row), row.hash)
        if verified is None:
            unverifiable += 1
            retired[row.key_id] = None
        elif not verified:
            return ChainCheck(count, row.id, "hash", unverifiable, tuple(retired))
        prev = row.hash
    return ChainCheck(count, None, None, unverifiable, tuple(retired))


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
