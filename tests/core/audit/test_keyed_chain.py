"""The audit chain is keyed by the platform keyring: someone who can write to Postgres but holds no
key cannot rewrite it consistently, and a key rotation keeps old rows verifiable for as long as
the old key is kept."""

from __future__ import annotations

import asyncio
import hashlib

from sqlalchemy import select, text

from services.core.audit import service as audit
from services.core.audit.keys import AuditKeyring
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent

OLD = "audit-old-platform-key-0123456789abcdef"
NEW = "audit-new-platform-key-fedcba9876543210"


async def _append(sessionmaker: SessionMaker, keyring: AuditKeyring, *actions: str) -> None:
    for action in actions:
        async with transaction(sessionmaker) as session:
            await audit.record(
                session,
                actor="cli:ana",
                action=action,
                tenant_id=None,
                details={"reason": action},
                keyring=keyring,
            )


async def _events(sessionmaker: SessionMaker) -> list[AuditEvent]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


async def _check(sessionmaker: SessionMaker, keyring: AuditKeyring) -> audit.ChainCheck:
    async with sessionmaker() as session:
        return await audit.verify(session, keyring)


async def _rewrite(sessionmaker: SessionMaker, rows: list[dict[str, object]]) -> None:
    """As a database superuser would: past the append-only triggers."""
    async with transaction(sessionmaker) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        for row in rows:
            await session.execute(
                text(
                    "UPDATE audit_events SET details = CAST(:details AS jsonb),"
                    " prev_hash = :prev_hash, hash = :hash, key_id = :key_id WHERE id = :id"
                ),
                row,
            )


async def test_a_row_rewritten_with_every_later_hash_recomputed_without_the_key_is_caught(
    clean_db: SessionMaker,
) -> None:
    keyring = AuditKeyring([NEW])
    await _append(clean_db, keyring, "tenant.pause", "dlq.replay", "tenant.resume")
    assert (await _check(clean_db, keyring)).ok
    events = await _events(clean_db)
    assert {e.key_id for e in events} == {keyring.current_id}
    kid = keyring.current_id
    assert repr(keyring) == f"AuditKeyring(current={kid!r}, keys=[{kid!r}])"  # ids, never keys

    # The old attack: edit the second row, then recompute it and every later hash with plain
    # SHA-256 (all the database holds), keeping each row's key_id.
    prev = events[0].hash
    forged = []
    for event in events[1:]:
        details = {"reason": "nothing happened"} if event.id == events[1].id else event.details
        edited = AuditEvent(at=event.at, actor=event.actor, action=event.action, details=details)
        digest = hashlib.sha256(audit.chained(prev, edited).encode()).hexdigest()
        forged.append(
            {
                "id": event.id,
                "details": f'{{"reason": "{details["reason"]}"}}',
                "prev_hash": prev,
                "hash": digest,
                "key_id": event.key_id,
            }
        )
        prev = digest
    await _rewrite(clean_db, forged)

    check = await _check(clean_db, keyring)
    assert (check.ok, check.broken_at, check.reason) == (False, events[1].id, "hash")
    assert check.summary == (
        f"chain broken at event {events[1].id}: its hash does not match its content under its key"
    )


async def test_a_row_without_a_key_is_broken(clean_db: SessionMaker) -> None:
    keyring = AuditKeyring([NEW])
    await _append(clean_db, keyring, "tenant.pause", "tenant.resume")
    first = (await _events(clean_db))[0]
    await _rewrite(
        clean_db,
        [
            {
                "id": first.id,
                "details": '{"reason": "tenant.pause"}',
                "prev_hash": None,
                "hash": first.hash,
                "key_id": "",
            }
        ],
    )
    check = await _check(clean_db, keyring)
    assert (check.broken_at, check.reason) == (first.id, "no_key")


async def test_after_a_rotation_old_rows_verify_while_the_old_key_is_kept_then_are_not_checked(
    clean_db: SessionMaker,
) -> None:
    before = AuditKeyring([OLD])
    rotated = AuditKeyring([NEW, OLD])  # ATENDE_PREVIOUS_SECRET_KEYS=["<old>"]
    dropped = AuditKeyring([NEW])
    await _append(clean_db, before, "tenant.pause", "tenant.resume")
    await _append(clean_db, rotated, "tenant.model")
    events = await _events(clean_db)
    assert [e.key_id for e in events] == [before.current_id] * 2 + [rotated.current_id]
    assert events[2].prev_hash == events[1].hash  # the new key chains onto the old rows

    check = await _check(clean_db, rotated)
    assert (check.ok, check.rows, check.unverifiable) == (True, 3, 0)
    assert check.summary == "hash chain intact · 3 events checked"

    check = await _check(clean_db, dropped)
    assert (check.ok, check.rows, check.unverifiable) == (True, 3, 2)
    assert check.retired_keys == (before.current_id,)
    assert check.summary == (
        "hash chain intact · 1 event checked; 2 under a retired key not checked (key "
        f"{before.current_id} is no longer in ATENDE_SECRET_KEY or ATENDE_PREVIOUS_SECRET_KEYS)"
    )

    # A row under the retired key still has to link: removing one is caught by the next row.
    async with transaction(clean_db) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": events[0].id})
    check = await _check(clean_db, dropped)
    assert (check.broken_at, check.reason) == (events[1].id, "link")


async def test_concurrent_appends_each_chain_onto_the_one_before(clean_db: SessionMaker) -> None:
    keyring = AuditKeyring([NEW])

    async def one(n: int) -> None:
        await _append(clean_db, keyring, f"test.concurrent.{n}")

    await asyncio.gather(*(one(n) for n in range(8)))
    events = await _events(clean_db)
    assert len(events) == 8
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    check = await _check(clean_db, keyring)
    assert (check.ok, check.rows) == (True, 8)
