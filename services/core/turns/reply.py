"""Sending a turn's stored reply and closing the turn.

The reply was stored before the send (:mod:`.answer`), so a retried job re-sends that text and
never asks the model again. It goes through the one send state machine of
:mod:`services.core.outbound.sending`, fallback channels allowed; a send given up dead-letters
the turn, and hands the conversation to a person when one could reach the customer
(:mod:`services.core.outbound.outage`). Once sent, the turn is closed, the exchange
is remembered for the next turn (a fallback is not part of the history) and announced to the
tenant's event subscribers.
"""

from __future__ import annotations

from services.core import events
from services.core.conversations import campaigns, memory
from services.core.conversations.messages import MessageRow, burst_age
from services.core.db import autocommit, transaction
from services.core.llm.types import ChatMessage
from services.core.metrics import CAMPAIGN_TURNS, TURN_LATENCY, TURNS
from services.core.outbound.sending import Stored, Unsent, send_stored
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType

from . import failures, store
from .store import PendingSend, TurnRef

_OUTCOME_BY_KIND = {"reply": "answered", "handoff": "handoff", "notice": "human"}


async def send_reply(
    deps: Runtime, tenant: TenantConfig, turn: TurnRef, messages: list[MessageRow] | None
) -> None:
    """Deliver the turn's stored reply and close the turn; ``messages`` None for a turn resumed
    after a crash or a replay (they are read again)."""
    async with autocommit(deps.sessionmaker) as session:
        pending = await store.pending_send(session, turn.id)
        if messages is None:
            messages = await store.turn_messages(session, turn.id)
    if pending.status != "sent":  # else: crashed after the send was recorded; just close
        outcome = await send_stored(
            deps, tenant, _stored(turn, pending), holds_lease=True, falls_back=True
        )
        if isinstance(outcome, Unsent):
            await failures.record_send_failure(deps, tenant, turn.id, pending.outbound_id, outcome)
            if outcome.retry:
                raise outcome.retry_later()
            return
    await _finish(deps, tenant, turn, pending, messages)


def _stored(turn: TurnRef, pending: PendingSend) -> Stored:
    return Stored(
        outbound_id=pending.outbound_id,
        conversation_id=turn.conversation_id,
        status=pending.status,
        channel=pending.channel,
        connection=pending.connection,
        phone=pending.phone,
        email=pending.email,
        text=pending.text,
        waited_seconds=pending.waited_seconds,
    )


async def _finish(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    pending: PendingSend,
    messages: list[MessageRow],
) -> None:
    """Close the turn and remember the exchange (once: a duplicate job finds it closed)."""
    # Closing alone is one statement; with the event's rows it is a transaction.
    announced = tenant.spec.events.wanting(EventType.TURN_ANSWERED)
    async with (transaction if announced else autocommit)(deps.sessionmaker) as session:
        closed = await store.finish(session, turn.id, pending.kind)
        if closed:
            await events.emit(
                session,
                tenant,
                EventType.TURN_ANSWERED,
                {
                    "turn_id": turn.id,
                    "conversation_id": turn.conversation_id,
                    "phone": pending.phone,
                    "kind": pending.kind,
                    "campaign": pending.campaign,
                    "reply": pending.text,
                    "messages": [{"kind": m.kind, "text": m.text} for m in messages],
                },
            )
    if not closed:
        return
    outcome = _OUTCOME_BY_KIND.get(pending.kind, "fallback")
    TURNS.labels(tenant.slug, outcome).inc()
    campaign = campaigns.label(tenant.spec, pending.campaign)
    CAMPAIGN_TURNS.labels(tenant.slug, pending.connection, campaign, outcome).inc()
    if messages:
        TURN_LATENCY.labels(tenant.slug).observe(burst_age(messages))
    if pending.kind not in ("reply", "handoff"):
        return
    said = [ChatMessage("user", memory.render_customer_text(m.kind, m.text)) for m in messages]
    spec = tenant.spec.conversation
    await memory.remember(
        deps.cache,
        turn.conversation_id,
        [*said, ChatMessage("model", pending.text)],
        ttl_minutes=spec.context_ttl_minutes,
        limit=spec.max_context_messages,
    )
