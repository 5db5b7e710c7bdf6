"""What an operator does from the shell is recorded as the panel's actions are: a replay or a
pause from ``atende`` leaves an audit row naming the shell user, and the same wording as before."""

from __future__ import annotations

import getpass
from pathlib import Path

from sqlalchemy import select

from services.core.db import SessionMaker
from services.core.models import AuditEvent, DeadLetter
from tests.core.dlq.test_audited import store_dead_letter

from .conftest import Cli


async def _audit(sessionmaker: SessionMaker) -> list[tuple[str, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(e.actor, e.action) for e in rows]


async def test_a_replay_from_the_cli_is_audited_as_the_shell_user(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    letter_id, _ = await store_dead_letter(clean_db)
    before = await _audit(clean_db)
    ran = atende("dlq", "replay", str(letter_id), "999")
    assert ran.code == 0, ran
    assert ran.out.splitlines() == [
        f"dead letter {letter_id}: replayed (queued)",
        "dead letter 999: dead letter 999 not found",
    ]
    async with clean_db() as session:
        letter = await session.get(DeadLetter, letter_id)
    assert letter is not None
    assert letter.status == "replayed"
    assert (await _audit(clean_db))[len(before) :] == [(f"cli:{getpass.getuser()}", "dlq.replay")]
    again = atende("dlq", "replay", str(letter_id))
    assert again.out == f"dead letter {letter_id}: dead letter {letter_id} is replayed, not open\n"


async def test_pause_and_resume_from_the_cli_are_audited_and_say_what_was_queued(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    paused = atende("tenants", "pause", "acme", "--reason", "loop with a bot")
    assert paused.out == "bottenant/acme paused (updated, version 2)\n", paused
    resumed = atende("tenants", "resume", "acme")
    assert resumed.out == (
        "bottenant/acme resumed (updated, version 3): 0 conversation(s) queued, 0 expired "
        "(0 message(s) older than contextTtlMinutes, unanswered)\n"
    ), resumed
    again = atende("tenants", "resume", "acme")
    assert again.out.startswith("bottenant/acme resumed (unchanged, version 3): 0 conversation")
    actor = f"cli:{getpass.getuser()}"
    assert (await _audit(clean_db))[-2:] == [(actor, "tenant.pause"), (actor, "tenant.resume")]
