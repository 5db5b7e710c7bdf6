"""``atende audit verify`` checks the audit log's chain with the environment's keyring: intact
under the current key, still intact after a rotation while the old key is kept, rows under a
dropped key counted as not checked (exit 0), and an edited row failing the command (exit 1)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from services.core.audit.keys import AuditKeyring
from services.core.db import SessionMaker, transaction

from .conftest import SECRET_KEY, Cli

NEW_KEY = "cli-test-rotated-platform-key-9876543210"


async def test_audit_verify_follows_the_keyring_and_fails_on_an_edited_row(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    assert atende("tenants", "pause", "acme", "--reason", "loop with a bot").code == 0
    assert atende("tenants", "resume", "acme").code == 0

    ran = atende("audit", "verify")
    assert (ran.code, ran.out) == (0, "audit log: hash chain intact · 2 events checked\n"), ran

    rotated = atende(
        "audit", "verify", ATENDE_SECRET_KEY=NEW_KEY,
        ATENDE_PREVIOUS_SECRET_KEYS=json.dumps([SECRET_KEY]),
    )  # fmt: skip
    assert (rotated.code, rotated.out) == (0, ran.out), rotated

    dropped = atende("audit", "verify", ATENDE_SECRET_KEY=NEW_KEY)
    old_id = AuditKeyring([SECRET_KEY]).current_id
    assert dropped.code == 0, dropped
    assert dropped.out == (
        "audit log: hash chain intact · 0 events checked; 2 under a retired key not checked "
        f"(key {old_id} is no longer in ATENDE_SECRET_KEY or ATENDE_PREVIOUS_SECRET_KEYS)\n"
    )

    async with transaction(clean_db) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        first = await session.scalar(text("SELECT min(id) FROM audit_events"))
        await session.execute(
            text("UPDATE audit_events SET actor = 'cli:nobody' WHERE id = :i"), {"i": first}
        )
    broken = atende("audit", "verify")
    assert broken.code == 1
    assert broken.err_lines == [
        f"error: audit log: chain broken at event {first}: its hash does not match its "
        "content under its key"
    ]
    assert SECRET_KEY not in broken.out + broken.err
