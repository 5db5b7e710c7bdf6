"""Replay and discard as an operator does them, from the CLI, the panel or ``/api/v1``: the
change and its audit row in the caller's transaction, the replay's job queued after the commit.

Who may act, and the words each interface prints, stay with the caller; that every operator
action leaves an audit row does not.
"""

from __future__ import annotations

from typing import Literal

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.audit.service import record
from services.core.errors import NotFound
from services.core.models import DeadLetter

from . import service
from .service import Replay


async def letter_in_scope(
    session: AsyncSession, dead_letter_id: int, scope: int | None
) -> DeadLetter:
    """The dead letter if ``scope`` (one tenant id, None for every tenant) may see it; outside
    the scope it is NotFound, the same answer as a missing one, so ids cannot be probed.

    Locked: the row is read as the action that follows will find it, so two replays of one
    letter cannot both see it open."""
    letter = await session.get(DeadLetter, dead_letter_id, with_for_update=True)
    if letter is None or (scope is not None and letter.tenant_id != scope):
        raise NotFound(f"dead letter {dead_letter_id} not found")
    return letter


async def replay(session: AsyncSession, dead_letter_id: int, *, actor: str) -> Replay:
    """:func:`.service.replay`, recorded as ``dlq.replay`` by ``actor``."""
    letter = await letter_in_scope(session, dead_letter_id, None)
    done = await service.replay(session, dead_letter_id)
    await record(
        session,
        actor=actor,
        action="dlq.replay",
        tenant_id=letter.tenant_id,
        details={"dead_letter_id": dead_letter_id},
    )
    return done


async def queue_replay(
    redis: ArqRedis, replay: Replay
) -> Literal["queued", "already_queued", "failed"]:
    """After the commit, under a job id of its own (arq would swallow the original's as a
    duplicate); "failed" leaves it to the sweeper."""
    return await jobs.enqueue_inbound(
        redis, replay.inbound_id, suffix=f"replay{replay.dead_letter_id}"
    )


async def discard(
    session: AsyncSession, dead_letter_id: int, *, reason: str, actor: str
) -> DeadLetter:
    """:func:`.service.discard`, recorded as ``dlq.discard`` by ``actor`` with its reason."""
    letter = await service.discard(session, dead_letter_id, reason=reason)
    await record(
        session,
        actor=actor,
        action="dlq.discard",
        tenant_id=letter.tenant_id,
        details={"dead_letter_id": dead_letter_id, "reason": reason.strip()[:500]},
    )
    return letter
