"""The audit chain is keyed: every row's hash becomes an HMAC under a key derived from
ATENDE_SECRET_KEY, named by the new ``key_id`` column, so someone who can write to Postgres but
has no key can no longer rewrite the chain consistently.

The existing rows are re-chained under the current key, in this transaction, past the
append-only triggers of 0006 (disabled and enabled again around it: the schema owner may, and no
other session ever sees them off). The old SHA-256 chain is checked first: if it was already
broken, it is still re-chained, but the id where it broke is printed and kept in the
``audit.chain_rekeyed`` row appended at the end, so re-keying never launders earlier tampering.
With rows present and no usable ATENDE_SECRET_KEY the upgrade refuses; an empty table needs
no key. ``key_id`` is NOT NULL: pods of the previous release, still running during the roll,
cannot append unkeyed rows (their audited actions fail until the roll ends; webhooks and turns
write no audit row).

The downgrade drops ``key_id`` and re-chains with plain SHA-256. It runs in the older image
(helm rollback replays this recorded script there), which has no audit key code, so it checks
only that each row links to the one before and records where it did not in an
``audit.chain_unkeyed`` row. This script imports nothing of the application at module level.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 09:40:00
"""

import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 1000
_TRIGGER = "audit_events_no_change"
_LOCK_KEY = 0x61756474  # the audit log's append lock (services/core/audit/service.py)


def _events(*, keyed: bool) -> sa.TableClause:
    return sa.table(
        "audit_events",
        sa.column("id", sa.BigInteger),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("tenant_id", sa.BigInteger),
        sa.column("details", JSONB),
        sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
        *([sa.column("key_id", sa.String)] if keyed else []),
    )


def _chained(prev_hash: str | None, row: Any) -> str:
    """As services/core/audit/service.py ``chained`` at this revision, frozen here: the
    downgrade runs in older images."""
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


def _sha256(message: str) -> str:
    return hashlib.sha256(message.encode()).hexdigest()


def _rows(bind: sa.Connection, events: sa.TableClause) -> Iterator[Any]:
    """Every row, oldest first, a batch at a time (read before the batch is rewritten)."""
    after = 0
    query = sa.select(events).order_by(events.c.id).limit(_BATCH)
    while True:
        batch = list(bind.execute(query.where(events.c.id > after)))
        yield from batch
        if len(batch) < _BATCH:
            return
        after = batch[-1].id


def _rechain(
    bind: sa.Connection,
    sign: Callable[[str], str],
    key_id: str | None,
    old_hash: Callable[[str | None, Any], bool],
) -> tuple[int, int | None, str | None]:
    """Rewrite every row's hash with ``sign``; returns the rows, the id of the first row that
    did not verify as the chain was (``old_hash(prev, row)`` and its link), and the new tail.
    ``key_id`` None: the table has no such column (the downgrade)."""
    events = _events(keyed=key_id is not None)
    update = (
        sa.update(events)
        .where(events.c.id == sa.bindparam("row_id"))
        .values(
            prev_hash=sa.bindparam("new_prev"),
            hash=sa.bindparam("new_hash"),
            **({"key_id": key_id} if key_id is not None else {}),
        )
    )
    count, broken_at = 0, None
    old_prev: str | None = None
    new_prev: str | None = None
    pending: list[dict[str, Any]] = []
    for row in _rows(bind, events):
        count += 1
        if broken_at is None and (row.prev_hash != old_prev or not old_hash(old_prev, row)):
            broken_at = row.id
        old_prev = row.hash
        new_hash = sign(_chained(new_prev, row))
        pending.append({"row_id": row.id, "new_prev": new_prev, "new_hash": new_hash})
        new_prev = new_hash
        if len(pending) >= _BATCH:
            bind.execute(update, pending)
            pending = []
    if pending:
        bind.execute(update, pending)
    return count, broken_at, new_prev


def _append(
    bind: sa.Connection,
    action: str,
    details: dict[str, Any],
    prev_hash: str | None,
    sign: Callable[[str], str],
    key_id: str | None,
) -> None:
    """One more row, chained onto ``prev_hash``: what this migration did to the log."""
    row = SimpleNamespace(
        at=datetime.now(UTC),
        actor=f"migration:{revision}",
        action=action,
        tenant_id=None,
        details=details,
    )
    values = {**vars(row), "prev_hash": prev_hash, "hash": sign(_chained(prev_hash, row))}
    if key_id is not None:
        values["key_id"] = key_id
    bind.execute(sa.insert(_events(keyed=key_id is not None)).values(**values))


def _audit_keyring() -> Any:
    """The upgrade runs only in images that ship 0013, so it may use their audit keys."""
    from services.core.audit.keys import process_keyring
    from services.core.config import InsecureSecretKey

    try:
        return process_keyring()
    except InsecureSecretKey as exc:
        raise InsecureSecretKey(
            "migration 0013 re-keys the audit log's existing rows under ATENDE_SECRET_KEY: "
            f"set it for `atende migrate upgrade` as for the api ({exc.message})"
        ) from None


def _say(line: str) -> None:
    print(f"0013 audit_events: {line}", file=sys.stderr)


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("key_id", sa.String(length=16), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
    if bind.scalar(sa.text("SELECT EXISTS (SELECT FROM audit_events)")):
        keyring = _audit_keyring()
        op.execute(f"ALTER TABLE audit_events DISABLE TRIGGER {_TRIGGER}")
        count, broken_at, tail = _rechain(
            bind,
            keyring.sign,
            keyring.current_id,
            lambda prev, row: row.hash == _sha256(_chained(prev, row)),
        )
        op.execute(f"ALTER TABLE audit_events ENABLE TRIGGER {_TRIGGER}")
        details = {"rows": count, "sha256_chain_broken_at": broken_at}
        _append(bind, "audit.chain_rekeyed", details, tail, keyring.sign, keyring.current_id)
        _say(f"{count} rows re-chained under key {keyring.current_id}")
        if broken_at is not None:
            _say(f"the SHA-256 chain was already broken at event {broken_at} (kept in the log)")
    op.alter_column("audit_events", "key_id", nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})"))
    op.drop_column("audit_events", "key_id")
    if not bind.scalar(sa.text("SELECT EXISTS (SELECT FROM audit_events)")):
        return
    op.execute(f"ALTER TABLE audit_events DISABLE TRIGGER {_TRIGGER}")
    count, broken_at, tail = _rechain(bind, _sha256, None, lambda prev, row: True)
    op.execute(f"ALTER TABLE audit_events ENABLE TRIGGER {_TRIGGER}")
    details = {"rows": count, "links_broken_at": broken_at}
    _append(bind, "audit.chain_unkeyed", details, tail, _sha256, None)
    _say(f"{count} rows re-chained with plain SHA-256 (unkeyed)")
    if broken_at is not None:
        _say(f"the chain's links were already broken at event {broken_at} (kept in the log)")
