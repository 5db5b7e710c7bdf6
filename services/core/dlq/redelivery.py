"""Replies that wait for their Whaticket connection to come back, sent once it has.

A reply given up because its connection was down (:data:`~services.core.outbound.outage.
CONNECTION_DOWN`: the WhatsApp session not live, Whaticket out of reach) is an open dead letter,
and nobody was handed the conversation, since no agent could answer through that connection
either. Whaticket's API token can only send, and nothing tells us when a session is live again
(its status is behind an agent login, and ticketz fails silently), so a connection is known to
be back by what comes through it after its latest failure:

* a webhook from it: a customer's message arrived through that session, or
* a message sent through it (a new answer, a workflow's message).

Then, per connection, oldest first, one at a time and no faster than
``spec.delivery.replayPerMinute``:

* a reply older than ``spec.delivery.maxReplayAgeMinutes``, or one whose conversation has a
  newer turn (the customer wrote again), is not sent out of context: its dead letter becomes
  ``stale`` (and stays open), and the conversation goes to a person when the tenant's tickets can
  be moved (one can answer now) and no newer turn is already answering it;
* the next one is replayed as an operator's replay is (:func:`.service.replay`: the stored text
  goes out again through the turn's job, never a new generation), once the one before it is no
  longer on its way and the connection's breaker is not open.

Each pass decides in one transaction, under an advisory lock and with the letters locked, and
enqueues after its commit; a lost enqueue is re-done by the sweeper (the turn is ``replying``).
Only replies that surely did not go out (``failed``, not ``unknown``) wait here, and the send is
marked before it leaves, so a crash at any point sends nothing twice and loses nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.core import jobs
from services.core.db import transaction
from services.core.handoff.service import hand_over_turn
from services.core.handoff.triggers import Trigger
from services.core.logging import get_logger
from services.core.metrics import REDELIVERIES
from services.core.models import OPEN_TURN_STATES, Conversation, DeadLetter, OutboundMessage, Turn
from services.core.outbound.delivery import connection_breaker
from services.core.outbound.outage import CONNECTION_DOWN
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from . import service
from .audited import queue_replay
from .service import Replay

log = get_logger(__name__)
_LOCK_KEY = 0x61746472  # "atdr"
# A connection's oldest waiting letters looked at per pass: the stale ones among them are set
# aside and the first that is not is replayed, so more are never needed at once.
PER_CONNECTION = 10
STALE = "stale"
REPLAYED_BY = "redelivery"  # context["replayed_by"] of the letters this module replayed


@dataclass(frozen=True, slots=True)
class Waiting:
    """An open dead letter whose reply waits for its connection."""

    letter_id: int
    tenant_id: int
    connection: str
    turn_id: int
    conversation_id: int
    outbound_id: int
    age_seconds: float  # since the reply was written
    last_failed: datetime  # the connection's latest failure among its waiting letters
    superseded: bool  # its conversation has a newer turn


@dataclass(slots=True)
class Pass:
    """What one pass did; the jobs are enqueued after its commit."""

    replays: list[Replay] = field(default_factory=list)
    handoffs: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    outcomes: list[tuple[str, str]] = field(default_factory=list)  # (tenant, replayed | stale)


def _joined(*columns: Any) -> Select[Any]:
    """The open letters of replies given up while their connection was down (and surely not
    sent: ``failed``, never ``unknown``), with their turn, conversation and reply."""
    return (
        select(*columns)
        .select_from(DeadLetter)
        .join(Turn, Turn.id == DeadLetter.turn_id)
        .join(Conversation, Conversation.id == Turn.conversation_id)
        .join(OutboundMessage, OutboundMessage.turn_id == Turn.id)
        .where(
            DeadLetter.status == "open",
            DeadLetter.stage == "send",
            DeadLetter.error_class.in_(CONNECTION_DOWN),
            OutboundMessage.status == "failed",
            OutboundMessage.channel == "whaticket",
        )
    )


async def waiting(session: AsyncSession) -> list[Waiting]:
    """The oldest waiting letters of each connection (so one connection's backlog never hides
    another's), oldest first, locked for this pass: an operator's replay of one waits for it,
    then finds it done."""
    group = (DeadLetter.tenant_id, Conversation.connection)
    ranked = _joined(
        DeadLetter.id.label("id"),
        func.row_number().over(partition_by=group, order_by=DeadLetter.id).label("rank"),
        func.max(DeadLetter.created_at).over(partition_by=group).label("last_failed"),
    ).subquery()
    newer = aliased(Turn)
    superseded = exists().where(newer.conversation_id == Turn.conversation_id, newer.id > Turn.id)
    rows = await session.execute(
        _joined(
            DeadLetter.id,
            DeadLetter.tenant_id,
            Conversation.connection,
            Turn.id,
            Turn.conversation_id,
            OutboundMessage.id,
            func.extract("epoch", func.now() - OutboundMessage.created_at),
            ranked.c.last_failed,
            superseded,
        )
        .join(ranked, ranked.c.id == DeadLetter.id)
        .where(ranked.c.rank <= PER_CONNECTION)
        .order_by(DeadLetter.id)
        .with_for_update(of=DeadLetter, skip_locked=True)
    )
    return [
        Waiting(l_id, t_id, conn, turn, conv, out, float(age), failed, bool(newer_turn))
        for l_id, t_id, conn, turn, conv, out, age, failed, newer_turn in rows
    ]


async def connection_back(
    session: AsyncSession, tenant_id: int, connection: str, since: datetime, first_outbound: int
) -> bool:
    """Something came through the connection after ``since``: a customer's message (a webhook
    from it), or a message we sent through it (one written after ``first_outbound``)."""
    inbound = select(Conversation.id).where(
        Conversation.tenant_id == tenant_id,
        Conversation.connection == connection,
        Conversation.last_inbound_at > since,
    )
    sent = (
        select(OutboundMessage.id)
        .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
        .where(
            OutboundMessage.id > first_outbound,
            OutboundMessage.tenant_id == tenant_id,
            OutboundMessage.channel == "whaticket",
            OutboundMessage.status == "sent",
            OutboundMessage.sent_at > since,
            Conversation.connection == connection,
        )
    )
    return bool(await session.scalar(select(exists(inbound) | exists(sent))))


async def _in_flight_or_recent(
    session: AsyncSession, tenant_id: int, connection: str, spacing: float
) -> bool:
    """The connection's last replay is still on its way, or went less than ``spacing`` ago."""
    last = (
        await session.execute(
            select(func.extract("epoch", func.now() - DeadLetter.resolved_at), Turn.status)
            .join(Turn, Turn.id == DeadLetter.turn_id)
            .join(Conversation, Conversation.id == Turn.conversation_id)
            .where(
                DeadLetter.tenant_id == tenant_id,
                DeadLetter.status == "replayed",
                DeadLetter.context["replayed_by"].astext == REPLAYED_BY,
                Conversation.connection == connection,
            )
            .order_by(DeadLetter.resolved_at.desc())
            .limit(1)
        )
    ).one_or_none()
    if last is None:
        return False
    ago, status = last
    return float(ago) < spacing or status in OPEN_TURN_STATES


async def _mark_stale(session: AsyncSession, tenant: TenantConfig, item: Waiting) -> int | None:
    """Not sent out of context: the letter becomes ``stale``; the conversation is handed to a
    person when one can take it (the id of the new handoff, to enqueue after the commit)."""
    letter = await session.get(DeadLetter, item.letter_id)
    assert letter is not None
    limit = tenant.spec.delivery.max_replay_age_minutes
    waited_for = letter.error_class
    why = "the customer wrote again" if item.superseded else f"older than {limit} minutes"
    letter.error_class = STALE
    letter.error = f"not sent when {item.connection} came back ({why}); it waited: {waited_for}"
    letter.context = {**letter.context, "waited_for": waited_for}
    log.warning("redelivery.stale", dead_letter_id=item.letter_id, superseded=item.superseded)
    if item.superseded or not tenant.spec.tickets_movable:
        return None
    said = [str(m["text"]) for m in letter.context.get("messages") or [] if m.get("text")]
    return await hand_over_turn(
        session,
        tenant,
        conversation_id=item.conversation_id,
        turn_id=item.turn_id,
        trigger=Trigger.FAILURE,
        reason=f"the bot's reply could not be delivered in time ({waited_for})",
        customer_texts=said,
    )


async def _connection_pass(
    session: AsyncSession, tenant: TenantConfig, letters: list[Waiting], done: Pass
) -> None:
    """The connection is back: stale ones before the next one set aside, then that one replayed
    (if the previous replay is through and the pace allows)."""
    spec = tenant.spec.delivery
    for item in letters:
        if item.superseded or item.age_seconds > spec.max_replay_age_minutes * 60:
            if (handoff_id := await _mark_stale(session, tenant, item)) is not None:
                done.handoffs.append(handoff_id)
            done.stale.append(item.letter_id)
            done.outcomes.append((tenant.slug, STALE))
            continue
        spacing = 60.0 / spec.replay_per_minute
        if await _in_flight_or_recent(session, tenant.id, item.connection, spacing):
            return
        replay = await service.replay(session, item.letter_id)
        letter = await session.get(DeadLetter, item.letter_id)
        assert letter is not None
        letter.context = {**letter.context, "replayed_by": REPLAYED_BY}
        done.replays.append(replay)
        done.outcomes.append((tenant.slug, "replayed"))
        log.info("redelivery.replay", dead_letter_id=item.letter_id, turn_id=item.turn_id)
        return


async def _decide(deps: Runtime, session: AsyncSession) -> Pass:
    done = Pass()
    if not await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})")):
        return done  # another worker's pass is running
    found = await waiting(session)
    by_connection = itertools.groupby(
        sorted(found, key=lambda w: (w.tenant_id, w.connection, w.letter_id)),
        key=lambda w: (w.tenant_id, w.connection),
    )
    for (tenant_id, connection), group in by_connection:
        letters = list(group)
        tenant = await deps.tenants.by_id(tenant_id)
        if tenant is None or not tenant.enabled or tenant.paused:
            continue
        since = max(w.last_failed for w in letters)
        first = min(w.outbound_id for w in letters)
        if not await connection_back(session, tenant_id, connection, since, first):
            continue
        if await deps.breaker(connection_breaker(tenant, connection)).state() == "open":
            continue  # back, but its breaker still fails sends fast: next pass
        await _connection_pass(session, tenant, letters, done)
    return done


async def redeliver(deps: Runtime) -> Pass:
    """One pass over the waiting replies; safe to run anywhere, at any time, twice."""
    async with transaction(deps.sessionmaker) as session:
        done = await _decide(deps, session)
    for slug, outcome in done.outcomes:
        REDELIVERIES.labels(slug, outcome).inc()
    for replay in done.replays:
        await queue_replay(deps.redis, replay)
    for handoff_id in done.handoffs:
        await jobs.enqueue_handoff(deps.redis, handoff_id)
    return done
