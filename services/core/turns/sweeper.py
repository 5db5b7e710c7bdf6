"""The sweeper: Postgres is the record, so whatever Redis lost is found here and re-enqueued.

It catches messages whose job vanished (Redis flush or restart, arq giving up after repeated
crashes, an enqueue that failed after commit) and turns left open by a dead worker. Re-enqueued
jobs carry a new id per sweep period so arq's dedupe cannot swallow them; the lease and the turn
states make a duplicate harmless. A message whose own job waits in arq's queue for a later time
(the ingest quota's slot, a rate limit's retry) is left to it, so a flood keeps its pace. One
sweeper runs at a time, through an advisory lock.
"""

from __future__ import annotations

import time
from datetime import timedelta

from arq.connections import ArqRedis
from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.db import SessionMaker, transaction
from services.core.logging import get_logger
from services.core.metrics import SWEEPER_REQUEUED
from services.core.models import OPEN_TURN_STATES, Conversation, InboundMessage, Tenant, Turn
from services.core.outbound import workflow

log = get_logger(__name__)
_LOCK_KEY = 0x61746E64  # "atnd"
BATCH = 500


async def _stuck_messages(session: AsyncSession, stuck_after: float) -> list[int]:
    """Per conversation, the first message still waiting for a turn, or of a stalled turn."""
    cutoff = func.now() - timedelta(seconds=stuck_after)
    lease_free = or_(Conversation.lease_until.is_(None), Conversation.lease_until < func.now())
    unassigned = (
        select(func.min(InboundMessage.id))
        .join(Conversation, Conversation.id == InboundMessage.conversation_id)
        .join(Tenant, Tenant.id == InboundMessage.tenant_id)
        .where(
            InboundMessage.turn_id.is_(None),
            InboundMessage.received_at < cutoff,
            Tenant.enabled.is_(True),
            Tenant.paused.is_(False),  # a paused tenant's messages wait for resume
            lease_free,
        )
        .group_by(InboundMessage.conversation_id)
        .limit(BATCH)
    )
    stalled = (
        select(func.min(InboundMessage.id))
        .join(Turn, Turn.id == InboundMessage.turn_id)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .join(Tenant, Tenant.id == Turn.tenant_id)
        .where(
            Turn.status.in_(OPEN_TURN_STATES),
            Turn.updated_at < cutoff,
            Tenant.paused.is_(False),
            lease_free,
        )
        .group_by(Turn.id)
        .limit(BATCH)
    )
    ids = set(await session.scalars(unassigned)) | set(await session.scalars(stalled))
    return sorted(i for i in ids if i is not None)


async def sweep(sessionmaker: SessionMaker, redis: ArqRedis, *, stuck_after: float) -> int:
    """Re-enqueue stuck work; returns how many jobs were enqueued (0 if another sweeper runs)."""
    async with transaction(sessionmaker) as session:
        locked = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"))
        if not locked:
            return 0
        stuck = await _stuck_messages(session, stuck_after)
        unsent = await workflow.stuck_messages(session, stuck_after)
    period = f"sweep{int(time.time() // max(stuck_after, 1.0))}"
    enqueued = 0
    waiting = await jobs.deferred(redis, stuck)
    for inbound_id in (i for i in stuck if i not in waiting):
        if await jobs.enqueue_inbound(redis, inbound_id, suffix=period) == "queued":
            enqueued += 1
    for message_id in unsent:
        enqueued += await jobs.enqueue_workflow_message(redis, message_id, suffix=period)
    if enqueued:
        SWEEPER_REQUEUED.inc(enqueued)
        log.info("sweeper.requeued", count=enqueued)
    return enqueued
