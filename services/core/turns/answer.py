"""Deciding a turn's answer and storing it, with the handoff that goes with it.

Before the model is asked, the turn may go to a person (the customer asked for one, repeats
himself, sent what the bot cannot read) or get a canned answer (:mod:`.routing`). While a
person has the conversation, the bot stays silent — except to tell a customer who keeps asking
for one, out of hours, when people are back. Otherwise the model answers (:mod:`.model`), or
hands over through its tool.

The answer is stored in one transaction with its handoff, after checking the turn still may
answer: the lease is ours, no person took the conversation meanwhile, and (for a model's
answer) no newer message made it stale. The handoff's transfer is enqueued after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError

from services.core import knowledge
from services.core.conversations import memory
from services.core.conversations.messages import MessageRow, burst_age
from services.core.db import autocommit, transaction
from services.core.handoff import messages as handoff_messages
from services.core.handoff.service import hand_over_turn
from services.core.handoff.triggers import Trigger, asks_for_human
from services.core.llm.types import ChatMessage, LlmReply
from services.core.logging import get_logger
from services.core.media.understand import read_media
from services.core.metrics import TURNS
from services.core.outbound import delivery
from services.core.retry import RetryLater
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import BotTenantSpec

from . import failures, model, routing, store
from .store import TurnRef

log = get_logger(__name__)

# A turn is never superseded once its first message is this old: answer, even if stale.
SUPERSEDE_WINDOW_SECONDS = 60.0
# A customer asking again for a person while none can answer hears when, at most this often.
REMINDER_INTERVAL_SECONDS = 3600
Usage = dict[str, int | None]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the turn will say, and what comes with it."""

    text: str
    kind: str  # reply | handoff | notice (while a person has the conversation)
    model: str = "none"
    usage: Usage | None = None
    handover: routing.Handover | None = None
    # A model's answer was written for the messages it saw: a newer one makes it stale.
    stale_if_newer: bool = False
    knowledge_ids: tuple[int, ...] = ()

    @classmethod
    def canned(cls, text: str) -> Answer:
        return cls(text, "reply", "canned")

    @classmethod
    def from_model(cls, text: str, reply: LlmReply, knowledge_ids: tuple[int, ...]) -> Answer:
        return cls(text, "reply", reply.model, _usage(reply), None, True, knowledge_ids)

    @classmethod
    def hand_over(
        cls,
        planned: routing.Handover,
        text: str,
        reply: LlmReply | None = None,
        knowledge_ids: tuple[int, ...] = (),
    ) -> Answer:
        if reply is None:
            return cls(text, "handoff", handover=planned)
        return cls(text, "handoff", reply.model, _usage(reply), planned, False, knowledge_ids)

    @classmethod
    def reminder(cls, text: str) -> Answer:
        return cls(text, "notice")


def _usage(reply: LlmReply) -> Usage:
    return {"prompt_tokens": reply.prompt_tokens, "output_tokens": reply.output_tokens}


async def decide(
    deps: Runtime, tenant: TenantConfig, turn: TurnRef, owner: str
) -> list[MessageRow] | None:
    """Decide the turn's answer and store it; the turn's messages, or None when nothing is to
    be sent (superseded, or a person has the conversation)."""
    spec = tenant.spec
    async with autocommit(deps.sessionmaker) as session:
        messages, info = await store.messages_and_info(session, turn)
        remembered = await memory.load_history(
            session,
            deps.cache,
            turn.conversation_id,
            ttl_minutes=spec.conversation.context_ttl_minutes,
            limit=spec.conversation.max_context_messages,
        )
    if not messages:  # its messages moved on (a replay); nothing left to answer
        async with transaction(deps.sessionmaker) as session:
            await store.set_status(session, turn.id, "superseded")
        return None
    now = deps.clock()
    if info.state == "human":
        return await _while_human(deps, tenant, turn, owner, messages, now)
    # Voice notes and images become words first (the turn waits for them).
    messages = await read_media(deps, tenant, messages, burst_age(messages, turn.created_at))
    texts = [memory.render_customer_text(m.kind, m.text) for m in messages]
    stored = _Storing(deps, tenant, turn, owner, messages, remembered.messages)
    planned = routing.before_model(spec, messages, remembered.messages)
    if planned == "text_only":
        return await stored.save(Answer.canned(handoff_messages.media_message(spec, now)))
    if planned is not None:
        return await stored.save(
            Answer.hand_over(planned, handoff_messages.handoff_message(spec, now))
        )
    # Only the knowledge that matches this turn's words goes to the model (and the offline
    # and over-budget answers come from the same search).
    found = await knowledge.lookup(
        deps.sessionmaker,
        deps.cache,
        tenant.id,
        spec.persona.language,
        spec.searchable_knowledge,
        "\n".join(m.text or "" for m in messages),
        spec.knowledge.max_entries_in_prompt,
        embedder=deps.embedder_for(tenant),
        max_chars=spec.knowledge.max_chars_in_prompt,
    )
    request = await model.build_request(deps, tenant, turn, texts, remembered, found, now)
    # The give-up budget runs from this turn's start: a replayed dead letter gets a fresh one
    # instead of failing at once because its messages are old.
    age = burst_age(messages, turn.created_at)
    # An answer without the model (no key, budget spent) quotes the best snippet that shares
    # a word with the message: the nearest by meaning alone may be about something else.
    quotable = [s for s in found if s.words]
    reply = await model.call(deps, tenant, turn, request, age, quotable)
    if reply is None:
        return messages  # the fallback was stored in its place
    # The model saw them all.
    used = tuple(s.id for s in (quotable[:1] if reply.model == "offline" else found))
    handover = _asked_for_person(spec, reply, used, now)
    if handover is not None:
        return await stored.save(handover)
    typed = [*texts, *(m.text for m in remembered.messages if m.role == "user")]
    text = await model.guarded_text(deps, tenant, turn, reply, typed)
    return await stored.save(Answer.from_model(text, reply, used))


def _asked_for_person(
    spec: BotTenantSpec, reply: LlmReply, used: tuple[int, ...], now: datetime
) -> Answer | None:
    """The handoff the model asked for through its tool (or a spent budget), if any."""
    if reply.handoff is None or not spec.features.handoff:
        return None
    budget_spent = reply.handoff.reason == "llm_budget_exhausted"
    planned = routing.Handover(
        Trigger.BUDGET if budget_spent else Trigger.TOOL,
        reply.handoff.reason or "the model asked for a person",
        reply.handoff.summary or None,
    )
    text = handoff_messages.handoff_message(spec, now)
    # Over budget, the knowledge answer still goes first; a model's own words before a
    # handoff are replaced by the honest, hours-aware message.
    if budget_spent and reply.text.strip():
        text = f"{reply.text.strip()}\n\n{text}"
    return Answer.hand_over(planned, text, reply, used)


class _Storing:
    """Stores one turn's answer, with its handoff, in one transaction (see the module)."""

    def __init__(
        self,
        deps: Runtime,
        tenant: TenantConfig,
        turn: TurnRef,
        owner: str,
        messages: list[MessageRow],
        history: list[ChatMessage],
    ) -> None:
        self.deps, self.tenant, self.turn, self.owner = deps, tenant, turn, owner
        self.messages, self.history = messages, history

    async def save(self, answer: Answer) -> list[MessageRow] | None:
        """The turn's messages once the answer is stored; None when the turn may not answer."""
        deps, turn, tenant = self.deps, self.turn, self.tenant
        handoff_id: int | None = None
        async with transaction(deps.sessionmaker) as session:
            check = await store.renew_for_answer(
                session, turn.conversation_id, self.owner, deps.settings.lease_seconds
            )
            if check is None:
                raise RetryLater(1.0, "lease lost")
            info = check.info
            if info.state == "human" and answer.kind != "notice":
                await store.set_status(session, turn.id, "human")  # a person answered first
                TURNS.labels(tenant.slug, "human").inc()
                return None
            if answer.stale_if_newer and self._stale(check.newest_waiting):
                await store.supersede(session, turn.id)
                log.info("turn.superseded", turn_id=turn.id)
                TURNS.labels(tenant.slug, "superseded").inc()
                return None
            usage = {"model": answer.model, **(answer.usage or {})}
            await store.store_reply(
                session,
                turn_id=turn.id,
                tenant_id=turn.tenant_id,
                conversation_id=turn.conversation_id,
                channel=delivery.channel_of(tenant, info.connection),
                text=answer.text,
                kind=answer.kind,
                usage=usage | {"knowledge_ids": list(answer.knowledge_ids)},
            )
            if answer.handover is not None:
                handoff_id = await hand_over_turn(
                    session,
                    tenant,
                    conversation_id=turn.conversation_id,
                    turn_id=turn.id,
                    trigger=answer.handover.trigger,
                    reason=answer.handover.reason,
                    customer_texts=[m.text for m in self.messages if m.text],
                    history=self.history,
                    model_summary=answer.handover.model_summary,
                    knowledge_ids=list(answer.knowledge_ids),
                )
        await failures.enqueue_handoff(deps, handoff_id)
        return self.messages

    def _stale(self, newest_waiting: int | None) -> bool:
        """A newer message arrived, and the burst is young enough to answer it all at once."""
        return newest_waiting is not None and burst_age(self.messages) < SUPERSEDE_WINDOW_SECONDS


async def _while_human(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    owner: str,
    messages: list[MessageRow],
    now: datetime,
) -> list[MessageRow] | None:
    """A person has the conversation: the bot only keeps what was said — and tells a customer
    who keeps asking for a person while nobody can answer when people are back, hourly at most."""
    spec = tenant.spec
    conversation = spec.conversation
    texts = [memory.render_customer_text(m.kind, m.text) for m in messages]
    await memory.remember(
        deps.cache,
        turn.conversation_id,
        [ChatMessage("user", text) for text in texts],
        ttl_minutes=conversation.context_ttl_minutes,
        limit=conversation.max_context_messages,
    )
    asks = asks_for_human([m.text for m in messages], spec.handoff.keywords)
    notice = handoff_messages.still_waiting_message(spec, now) if asks else None
    if notice is not None and await _claim_reminder(deps, turn.conversation_id):
        stored = _Storing(deps, tenant, turn, owner, messages, [])
        return await stored.save(Answer.reminder(notice))
    async with transaction(deps.sessionmaker) as session:
        await store.set_status(session, turn.id, "human")
    TURNS.labels(tenant.slug, "human").inc()
    log.info("turn.human_has_conversation", turn_id=turn.id)
    return None


async def _claim_reminder(deps: Runtime, conversation_id: int) -> bool:
    try:
        claimed = await deps.cache.set(
            f"handoff:reminded:{conversation_id}", "1", nx=True, ex=REMINDER_INTERVAL_SECONDS
        )
    except (RedisError, OSError):
        return False  # silence is the safe side
    return bool(claimed)
