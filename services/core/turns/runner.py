"""A turn: one answer to one burst of customer messages, exactly once.

The job that runs it may be duplicated, killed or retried (arq is at-least-once), so every step
is guarded by state in Postgres:

* the conversation lease lets one job at a time work on a conversation (:mod:`.lease`);
* messages join a turn in the same transaction that creates it, so each is answered once;
* the reply is stored before it is sent (:mod:`.answer`), so a retry re-sends that text and
  never asks the model again (:mod:`.reply`); the one window left — the channel accepted the
  send, we crashed before recording it — is counted as an ambiguous send;
* a newer message that arrives while the model is thinking makes the answer stale: the turn is
  superseded and the next one answers everything together.

The tenant's configuration is read again for every turn (a change announced on the tenant
channel reaches the next turn): a paused tenant's messages wait, unanswered, for resume; a new
turn is only started within the contact's and the tenant's rate limits (:mod:`.pacing`); a forced
model (``model_override``) replaces ``spec.llm.model``.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from services.core.conversations import campaigns
from services.core.db import autocommit
from services.core.logging import bind_correlation_id, get_logger
from services.core.metrics import TURNS_PAUSED
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from . import answer, failures, opening, pacing, reply, store
from .lease import leased
from .store import Origin, TurnRef

log = get_logger(__name__)

# A burst is answered at the latest this long after its first message, however chatty.
MAX_BURST_WAIT_FACTOR = 4


async def process_inbound(deps: Runtime, inbound_id: int, *, owner: str | None = None) -> None:
    """Answer the conversation this message belongs to, with whatever else is unanswered."""
    owner = owner or uuid.uuid4().hex
    async with autocommit(deps.sessionmaker) as session:
        origin = await store.message_origin(session, inbound_id)
    if origin is None:
        return
    bind_correlation_id(origin.correlation_id)
    tenant = await _answering_tenant(deps, origin.tenant_id)
    if tenant is None:
        return
    await _wait_for_quiet(deps, tenant, origin.conversation_id)
    async with leased(deps, origin.conversation_id, owner):
        try:
            await _answer_all(deps, origin, owner)
        except failures.TurnGone:
            log.info("turn.erased")


async def _answer_all(deps: Runtime, origin: Origin, owner: str) -> None:
    # The configuration is read per turn: a change or a pause reaches the next one.
    while (tenant := await _answering_tenant(deps, origin.tenant_id)) is not None and (
        turn := await _next_turn(deps, tenant, origin)
    ) is not None:
        bind_correlation_id(turn.correlation_id)
        messages = None
        if turn.status == "pending":
            messages = await answer.decide(deps, tenant, turn, owner)
            if messages is None:
                continue
        await reply.send_reply(deps, tenant, turn, messages)


async def _answering_tenant(deps: Runtime, tenant_id: int) -> TenantConfig | None:
    """The tenant if its bot answers now; None when it is gone, disabled or paused (its
    messages stay stored; resuming queues them again)."""
    tenant = await deps.tenants.by_id(tenant_id)
    if tenant is None or not tenant.enabled:
        log.info("turn.tenant_disabled", tenant_id=tenant_id)
        return None
    if tenant.paused:
        TURNS_PAUSED.labels(tenant.slug).inc()
        log.info("turn.tenant_paused", tenant=tenant.slug)
        return None
    return tenant


async def _wait_for_quiet(deps: Runtime, tenant: TenantConfig, conversation_id: int) -> None:
    """Debounce: wait until the customer paused for ``debounceSeconds`` (bounded in total)."""
    debounce = tenant.spec.conversation.debounce_seconds
    if debounce <= 0:
        return
    while True:
        async with autocommit(deps.sessionmaker) as session:
            burst = await store.waiting_burst(session, conversation_id)
        if burst.newest is None or burst.oldest is None:
            return
        due = min(
            burst.newest + timedelta(seconds=debounce),
            burst.oldest + timedelta(seconds=debounce * MAX_BURST_WAIT_FACTOR),
        )
        wait = (due - burst.now).total_seconds()
        if wait <= 0:
            return
        await asyncio.sleep(min(wait, 5.0))


async def _next_turn(deps: Runtime, tenant: TenantConfig, origin: Origin) -> TurnRef | None:
    """The conversation's unfinished turn, or a new one holding every unanswered message —
    started only within the rate limits (we hold the lease: nobody else starts one meanwhile).
    Each step is one statement: no transaction round trips."""
    async with autocommit(deps.sessionmaker) as session:
        found = await opening.next_turn(session, origin.conversation_id)
    if not isinstance(found, bool):
        return found
    if not found:
        return None
    # No connection is held meanwhile: the wait notice takes one of its own.
    await pacing.within_rate_limits(deps, tenant, origin)
    async with autocommit(deps.sessionmaker) as session:
        started = await opening.start_turn(session, tenant.id, origin.conversation_id)
        if started is None:  # none waits any more, or a replay opened one meanwhile
            return await opening.open_turn(session, origin.conversation_id)
        await campaigns.attribute(
            session,
            tenant.spec,
            tenant.slug,
            origin.conversation_id,
            started.payloads,
            started.texts,
        )
        return started.turn
