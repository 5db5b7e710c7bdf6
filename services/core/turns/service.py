"""A turn: one answer to one burst of customer messages, exactly once.

The job that runs it may be duplicated, killed or retried (arq is at-least-once), so every step
is guarded by state in Postgres:

* the conversation lease lets one job at a time work on a conversation;
* messages join a turn in the same transaction that creates it, so each is answered once;
* the reply is stored before it is sent, so a retry re-sends that text and never asks the model
  again; the one window left — Whaticket accepted the send, we crashed before recording it — is
  counted as an ambiguous send;
* a newer message that arrives while the model is thinking makes the answer stale: the turn is
  superseded and the next one answers everything together.

The tenant's configuration is read again for every turn (a change announced on the tenant
channel reaches the next turn): a paused tenant's messages wait, unanswered, for resume; a new
turn is only started within the contact's and the tenant's rate limits (:mod:`.pacing`); a forced
model (``model_override``) replaces ``spec.llm.model``.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from redis.exceptions import RedisError

from services.core import budget, events, guard, hours, jobs, knowledge
from services.core.conversations import campaigns, memory
from services.core.conversations.messages import MessageRow
from services.core.conversations.service import acquire_lease, release_lease
from services.core.db import transaction
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.handoff import messages as handoff_messages
from services.core.handoff.service import hand_over_turn
from services.core.handoff.triggers import Trigger, asks_for_human
from services.core.llm.offline import OfflineResponder
from services.core.llm.types import ChatMessage, LlmReply, LlmRequest
from services.core.logging import bind_correlation_id, get_logger
from services.core.media.understand import read_media
from services.core.metrics import (
    AMBIGUOUS_SENDS,
    BREAKER_REJECTIONS,
    CAMPAIGN_TURNS,
    GUARD_BLOCKED,
    LLM_ERRORS,
    LLM_LATENCY,
    LLM_TOKENS,
    RATE_LIMIT_NOTICES,
    RATE_LIMITED,
    SEND_ERRORS,
    SENDS,
    TURN_LATENCY,
    TURNS,
    TURNS_PAUSED,
)
from services.core.outbound import delivery, fallback
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType, KnowledgeEntry

from . import failures, pacing, prompt, routing, store
from .store import Origin, PendingSend, TurnRef

log = get_logger(__name__)

# A burst is answered at the latest this long after its first message, however chatty.
MAX_BURST_WAIT_FACTOR = 4
# A turn is never superseded once its first message is this old: answer, even if stale.
SUPERSEDE_WINDOW_SECONDS = 60.0
BLOCKED_REPLY = "Desculpe, não posso ajudar com isso por aqui. Posso chamar um atendente?"
_OUTCOME_BY_KIND = {"reply": "answered", "handoff": "handoff", "notice": "human"}
# A customer asking again for a person while none can answer hears when, at most this often.
REMINDER_INTERVAL_SECONDS = 3600


async def process_inbound(deps: Runtime, inbound_id: int, *, owner: str | None = None) -> None:
    """Answer the conversation this message belongs to, with whatever else is unanswered."""
    owner = owner or uuid.uuid4().hex
    async with deps.sessionmaker() as session:
        origin = await store.message_origin(session, inbound_id)
    if origin is None:
        return
    bind_correlation_id(origin.correlation_id)
    tenant = await _answering_tenant(deps, origin.tenant_id)
    if tenant is None:
        return
    await _wait_for_quiet(deps, tenant, origin.conversation_id)
    async with _leased(deps, origin.conversation_id, owner):
        # The configuration is read per turn: a change or a pause reaches the next one.
        while (tenant := await _answering_tenant(deps, origin.tenant_id)) is not None and (
            turn := await _next_turn(deps, tenant, origin)
        ) is not None:
            bind_correlation_id(turn.correlation_id)
            await _run_turn(deps, tenant, turn, owner)


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
        async with deps.sessionmaker() as session:
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


@asynccontextmanager
async def _leased(deps: Runtime, conversation_id: int, owner: str) -> AsyncIterator[None]:
    """Hold the conversation's lease, renewed in the background; a dead worker's lapses fast."""
    seconds = deps.settings.lease_seconds
    async with transaction(deps.sessionmaker) as session:
        taken = await acquire_lease(session, conversation_id, owner, seconds)
    if not taken:
        raise RetryLater(1.0 + random.random(), "conversation busy")

    async def renew() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with transaction(deps.sessionmaker) as session:
                    await acquire_lease(session, conversation_id, owner, seconds)
            except Exception as exc:  # keep renewing; the work checks the lease itself
                log.warning("lease.renew_failed", error=type(exc).__name__)

    renewer = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        try:
            async with transaction(deps.sessionmaker) as session:
                await release_lease(session, conversation_id, owner)
        except Exception as exc:  # the lease expires by itself
            log.warning("lease.release_failed", error=type(exc).__name__)


async def _next_turn(deps: Runtime, tenant: TenantConfig, origin: Origin) -> TurnRef | None:
    """The conversation's unfinished turn, or a new one holding every unanswered message —
    started only within the rate limits (we hold the lease: nobody else starts one meanwhile)."""
    async with deps.sessionmaker() as session:
        turn = await store.open_turn(session, origin.conversation_id)
        if turn is not None:
            return turn
        if await store.newest_waiting(session, origin.conversation_id) is None:
            return None
    await _within_rate_limits(deps, tenant, origin)
    async with transaction(deps.sessionmaker) as session:
        turn = await store.open_turn(session, origin.conversation_id)
        if turn is not None:
            return turn
        turn = await store.start_turn(session, tenant.id, origin.conversation_id)
        if turn is not None:
            await campaigns.attribute(session, tenant.spec, tenant.slug, turn.id)
        return turn


async def _within_rate_limits(deps: Runtime, tenant: TenantConfig, origin: Origin) -> None:
    """Charge a new turn to the contact and the tenant, or defer the job (RetryLater)."""
    decision = await deps.limiter.hit(*pacing.turn_limits(tenant, origin.contact_id))
    if decision.allowed:
        return
    dimension = decision.dimension or "unknown"
    RATE_LIMITED.labels(tenant.slug, dimension).inc()
    log.info("turn.rate_limited", dimension=dimension, retry_after=decision.retry_after)
    bound = deps.settings.rate_limit_notice_after_seconds
    if await pacing.claim_notice(
        deps.cache, tenant, origin.contact_id, decision.retry_after, bound
    ):
        await _send_wait_notice(deps, tenant, origin)
    # A little jitter, so the jobs of one burst do not all come back at the same instant.
    raise RetryLater(decision.retry_after + random.uniform(0.05, 0.5), f"rate limited: {dimension}")


async def _send_wait_notice(deps: Runtime, tenant: TenantConfig, origin: Origin) -> None:
    """Best effort: the real answer follows at the limited pace whatever happens here."""
    text = tenant.spec.persona.wait_message
    async with deps.sessionmaker() as session:
        connection, phone = await store.recipient(session, origin.conversation_id)
    try:
        if delivery.channel_of(tenant, connection) == "sandbox":
            log.info("sandbox.reply", to=phone, text=text)
        else:
            await delivery.deliver_text(deps.whaticket, tenant, connection, phone, text)
    except DependencyError as exc:
        await pacing.release_notice(deps.cache, tenant, origin.contact_id)
        log.warning("turn.wait_notice_failed", error_class=exc.error_class)
        return
    RATE_LIMIT_NOTICES.labels(tenant.slug).inc()
    log.info("turn.wait_notice_sent")


async def _run_turn(deps: Runtime, tenant: TenantConfig, turn: TurnRef, owner: str) -> None:
    messages: list[MessageRow] | None = None
    if turn.status == "pending":
        messages = await _generate(deps, tenant, turn, owner)
        if messages is None:
            return
    await _send(deps, tenant, turn, messages)


def _age(messages: list[MessageRow], since: datetime | None = None) -> float:
    """Seconds since the first message, or since ``since`` when that is later."""
    start = min(m.received_at for m in messages)
    if since is not None:
        start = max(start, since)
    return (datetime.now(UTC) - start).total_seconds()


async def _generate(
    deps: Runtime, tenant: TenantConfig, turn: TurnRef, owner: str
) -> list[MessageRow] | None:
    """Decide the turn's reply and store it; the turn's messages, or None when nothing is to
    be sent (superseded, or a person has the conversation)."""
    spec = tenant.spec
    async with deps.sessionmaker() as session:
        messages = await store.turn_messages(session, turn.id)
        info = await store.conversation_info(session, turn.conversation_id)
        remembered = await memory.load_history(
            session,
            deps.cache,
            turn.conversation_id,
            ttl_minutes=spec.conversation.context_ttl_minutes,
            limit=spec.conversation.max_context_messages,
        )
    history = remembered.messages
    if not messages:  # its messages moved on (a replay); nothing left to answer
        async with transaction(deps.sessionmaker) as session:
            await store.set_status(session, turn.id, "superseded")
        return None
    now = deps.clock()
    if info.state == "human":
        texts = [memory.render_customer_text(m.kind, m.text) for m in messages]
        return await _while_human(deps, tenant, turn, owner, messages, texts, now)
    # Voice notes and images become words first (the turn waits for them).
    messages = await read_media(deps, tenant, messages, _age(messages, turn.created_at))
    texts = [memory.render_customer_text(m.kind, m.text) for m in messages]
    answer = _Answer(deps, tenant, turn, owner, messages, history)
    planned = routing.before_model(spec, messages, history)
    if planned == "text_only":
        return await answer.store(handoff_messages.text_only_message(spec), "reply", "canned")
    if planned is not None:
        return await answer.hand_over(planned, handoff_messages.handoff_message(spec, now))
    _log_input_flags(tenant, texts)
    # Only the knowledge that matches this turn's words goes to the model (and the offline
    # and over-budget answers come from the same search).
    found = await knowledge.lookup(
        deps.sessionmaker,
        deps.cache,
        tenant.id,
        spec.persona.language,
        spec.searchable_knowledge,
        "\n".join(m.text or "" for m in messages),
    )
    boundary = guard.new_boundary()  # one per request: all its customer turns, and the rules
    # Out of hours, the model is told when humans return, so a handoff promise is honest.
    away = hours.after_hours_note(spec.business_hours, spec.persona.language, now)
    request = LlmRequest(
        model=tenant.model_override or spec.llm.model,
        system_prompt=prompt.system_prompt(
            spec,
            [
                *([away] if away else []),
                *await _conversation_notes(deps, tenant, turn),
                *prompt.summary_notes(remembered.summary, boundary),
            ],
            canary=_canary(deps, tenant),
            boundary=boundary,
            snippets=found,
        ),
        history=_merge_roles([*_delimit(history, boundary), prompt.customer_turn(texts, boundary)]),
        allow_handoff=spec.features.handoff,
        correlation_id=turn.correlation_id,
    )
    # The give-up budget runs from this turn's start: a replayed dead letter gets a fresh one
    # instead of failing at once because its messages are old.
    reply = await _call_llm(deps, tenant, turn, request, _age(messages, turn.created_at), found)
    if reply is None:
        return messages  # the fallback was stored in its place
    # An answer without the model quotes the best snippet; the model saw them all.
    answer.knowledge_ids = [s.id for s in (found[:1] if reply.model == "offline" else found)]
    usage = {"prompt_tokens": reply.prompt_tokens, "output_tokens": reply.output_tokens}
    if reply.handoff is not None and spec.features.handoff:
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
        return await answer.hand_over(planned, text, reply.model, usage)
    text = await _guard_reply(deps, tenant, turn, _reply_text(reply))
    return await answer.store(text, "reply", reply.model, usage, supersede=True)


class _Answer:
    """Stores a turn's reply — and the handoff that goes with it — in one transaction, after
    checking the turn still may: the lease is ours, no person took the conversation meanwhile,
    and (for a model answer) no newer message made it stale. A handoff's transfer job is
    enqueued after the commit."""

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
        self.knowledge_ids: list[int] = []

    async def hand_over(
        self,
        planned: routing.Handover,
        text: str,
        model: str = "none",
        usage: dict[str, int | None] | None = None,
    ) -> list[MessageRow] | None:
        return await self.store(text, "handoff", model, usage, handover=planned)

    async def store(
        self,
        text: str,
        kind: str,
        model: str,
        usage: dict[str, int | None] | None = None,
        *,
        supersede: bool = False,
        handover: routing.Handover | None = None,
        while_human: bool = False,
    ) -> list[MessageRow] | None:
        deps, turn, tenant = self.deps, self.turn, self.tenant
        handoff_id: int | None = None
        async with transaction(deps.sessionmaker) as session:
            if not await acquire_lease(
                session, turn.conversation_id, self.owner, deps.settings.lease_seconds
            ):
                raise RetryLater(1.0, "lease lost")
            info = await store.conversation_info(session, turn.conversation_id)
            if info.state == "human" and not while_human:
                await store.set_status(session, turn.id, "human")  # a person answered first
                TURNS.labels(tenant.slug, "human").inc()
                return None
            newer = await store.newest_waiting(session, turn.conversation_id)
            if supersede and newer is not None and _age(self.messages) < SUPERSEDE_WINDOW_SECONDS:
                await store.supersede(session, turn.id)
                log.info("turn.superseded", turn_id=turn.id)
                TURNS.labels(tenant.slug, "superseded").inc()
                return None
            await store.store_reply(
                session,
                turn_id=turn.id,
                tenant_id=turn.tenant_id,
                conversation_id=turn.conversation_id,
                channel=delivery.channel_of(tenant, info.connection),
                text=text,
                kind=kind,
                usage={"model": model, **(usage or {}), "knowledge_ids": self.knowledge_ids},
            )
            if handover is not None:
                handoff_id = await hand_over_turn(
                    session,
                    tenant,
                    conversation_id=turn.conversation_id,
                    turn_id=turn.id,
                    trigger=handover.trigger,
                    reason=handover.reason,
                    customer_texts=[m.text for m in self.messages if m.text],
                    history=self.history,
                    model_summary=handover.model_summary,
                    knowledge_ids=self.knowledge_ids,
                )
        await _enqueue_handoff(deps, handoff_id)
        return self.messages


async def _while_human(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    owner: str,
    messages: list[MessageRow],
    texts: list[str],
    now: datetime,
) -> list[MessageRow] | None:
    """A person has the conversation: the bot stays silent and only keeps what was said — but
    a customer who keeps asking for a person while nobody can answer (out of hours) is told,
    at most once an hour, when people are back."""
    spec = tenant.spec
    conversation = spec.conversation
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
        answer = _Answer(deps, tenant, turn, owner, messages, [])
        return await answer.store(notice, "notice", "none", while_human=True)
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


async def _conversation_notes(deps: Runtime, tenant: TenantConfig, turn: TurnRef) -> list[str]:
    """What the model must know about this conversation's past: a person just had it, or the
    customer is back after the context expired (a new session)."""
    async with deps.sessionmaker() as session:
        return await memory.session_notes(
            session,
            turn.conversation_id,
            before_turn=turn.id,
            ttl_minutes=tenant.spec.conversation.context_ttl_minutes,
        )


def _delimit(history: list[ChatMessage], boundary: guard.Boundary) -> list[ChatMessage]:
    return [prompt.customer_turn([m.text], boundary) if m.role == "user" else m for m in history]


def _merge_roles(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Gemini expects alternating roles; consecutive messages of one side become one."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, merged[-1].text + "\n" + message.text)
        else:
            merged.append(message)
    return merged


def _canary(deps: Runtime, tenant: TenantConfig) -> str:
    return guard.tenant_canary(deps.settings.secret_key.get_secret_value(), tenant.id)


def _log_input_flags(tenant: TenantConfig, texts: list[str]) -> None:
    """Heuristic flags are advisory (reliability.md §5.2 #6): logged, never a gate."""
    flags = sorted({flag for text in texts for flag in guard.screen(text).flags})
    if flags:
        log.info("guard.input_flagged", tenant=tenant.slug, flags=flags)


async def _guard_reply(deps: Runtime, tenant: TenantConfig, turn: TurnRef, text: str) -> str:
    """The output guard (:mod:`services.core.guard.output`) on every reply before it is stored:
    a leak becomes the safe answer; the reason is logged and counted, never the text."""
    credentials = tenant.credentials
    platform_key = deps.settings.gemini_api_key
    secrets = [
        *credentials.secrets(),
        *tenant.webhook_secret_hashes,
        *deps.settings.secret_keys(),
        platform_key.get_secret_value() if platform_key is not None else None,
    ]
    output_guard = await deps.guards.for_tenant(
        deps.sessionmaker,
        tenant.id,
        tenant.version,
        secrets,
        lambda foreign: prompt.output_guard(
            tenant.spec, _canary(deps, tenant), secrets=secrets, foreign=foreign
        ),
    )
    verdict = output_guard.check(text)
    if verdict.reason is None:
        return text
    GUARD_BLOCKED.labels(tenant.slug, verdict.reason).inc()
    log.warning("guard.blocked", tenant=tenant.slug, turn_id=turn.id, reason=verdict.reason)
    return verdict.text


def _reply_text(reply: LlmReply) -> str:
    if reply.blocked:
        return BLOCKED_REPLY
    return reply.text.strip()


async def _call_llm(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    request: LlmRequest,
    age: float,
    found: list[knowledge.Snippet],
) -> LlmReply | None:
    """The reply, or None after storing the fallback; raises RetryLater for another try."""
    now = deps.clock()
    entries = [KnowledgeEntry(question=s.question, answer=s.answer) for s in found]
    if (await budget.current(deps.sessionmaker, tenant, now)).exhausted:  # no model call
        return await budget.knowledge_only_reply(tenant, turn.id, request, now, snippets=entries)
    model_client, breaker_name = deps.llm_for(tenant)
    # No key: the best snippet of this turn's knowledge search answers.
    client = model_client or OfflineResponder.from_search(entries)
    breaker = deps.breaker(breaker_name)
    decision = await breaker.allow()
    if not decision.allowed:
        BREAKER_REJECTIONS.labels("gemini").inc()
        if age > deps.settings.turn_give_up_after_seconds:
            handoff_id = await failures.give_up_generating(
                deps.sessionmaker, tenant, turn.id, "gemini_breaker_open", turn.attempts
            )
            await _enqueue_handoff(deps, handoff_id)
            return None
        raise RetryLater(decision.retry_after + random.uniform(0, 1), "gemini breaker open")
    started = time.perf_counter()
    try:
        reply = await client.generate(request)
    except DependencyError as exc:
        LLM_ERRORS.labels(tenant.slug, exc.error_class).inc()
        if isinstance(exc, TransientError):
            await breaker.record_failure()
        else:  # Gemini answered (a bad key, a bad request): it is up; close a half-open probe
            await breaker.record_success()
        attempts = await failures.note_attempt(deps.sessionmaker, turn.id, exc)
        log.warning("llm.failed", error_class=exc.error_class, attempt=attempts)
        retry_allowed = (
            isinstance(exc, TransientError)
            and attempts < deps.settings.turn_max_attempts
            and age < deps.settings.turn_give_up_after_seconds
        )
        if not retry_allowed:
            handoff_id = await failures.give_up_generating(
                deps.sessionmaker, tenant, turn.id, exc.error_class, attempts
            )
            await _enqueue_handoff(deps, handoff_id)
            return None
        raise RetryLater(max(backoff(attempts), exc.retry_after or 0), exc.error_class) from exc
    await breaker.record_success()
    LLM_LATENCY.labels(tenant.slug, reply.model).observe(time.perf_counter() - started)
    LLM_TOKENS.labels(tenant.slug, "prompt").inc(reply.prompt_tokens or 0)
    LLM_TOKENS.labels(tenant.slug, "output").inc(reply.output_tokens or 0)
    if breaker_name != "offline":
        await budget.record_usage(deps.sessionmaker, tenant, reply, now)
    return reply


async def _send(
    deps: Runtime, tenant: TenantConfig, turn: TurnRef, messages: list[MessageRow] | None
) -> None:
    """Deliver the stored reply; retried sends re-use its text. When Whaticket surely could
    not deliver it, the tenant's fallback channel gets the same stored reply."""
    async with deps.sessionmaker() as session:
        pending = await store.pending_send(session, turn.id)
        if messages is None:  # a turn resumed after a crash or a replay
            messages = await store.turn_messages(session, turn.id)
    if pending.status == "sent":  # crashed after the send was recorded: just close the turn
        await _finish(deps, tenant, turn, pending, messages)
        return
    outgoing = delivery.Outgoing(
        outbound_id=pending.outbound_id,
        conversation_id=turn.conversation_id,
        channel=pending.channel,
        connection=pending.connection,
        phone=pending.phone,
        email=pending.email,
        text=pending.text,
    )
    breaker = deps.breaker(delivery.breaker_name(tenant, outgoing))
    wait = await delivery.breaker_wait(breaker, pending.channel)
    if wait is not None:  # not an attempt: nothing was tried
        reason = f"{pending.channel}_breaker_open"
        if pending.waited_seconds > tenant.spec.fallback.after_seconds and await _fall_back(
            deps, tenant, pending, reason
        ):
            await _send(deps, tenant, turn, messages)
            return
        if pending.waited_seconds > deps.settings.turn_give_up_after_seconds:
            SEND_ERRORS.labels(tenant.slug, reason).inc()
            exc = PermanentError(reason, f"{pending.channel} unavailable too long")
            await _send_failed(deps, tenant, turn.id, exc, 0)
            return
        raise RetryLater(wait + random.uniform(0, 1), f"{pending.channel} breaker open")
    if pending.status in ("sending", "unknown"):
        # We may already have delivered it; re-sending is the lesser evil. Counted.
        AMBIGUOUS_SENDS.labels(tenant.slug).inc()
        log.warning("send.ambiguous_retry", turn_id=turn.id, status=pending.status)
    async with transaction(deps.sessionmaker) as session:
        attempts = await store.mark_sending(session, pending.outbound_id)
    try:
        response = await delivery.attempt(deps, tenant, breaker, outgoing)
    except DependencyError as exc:
        exhausted = not (
            isinstance(exc, TransientError) and attempts < deps.settings.send_max_attempts
        )
        if exhausted and not exc.ambiguous and await _fall_back(deps, tenant, pending, exc):
            await _send(deps, tenant, turn, messages)
            return
        await _send_failed(deps, tenant, turn.id, exc, attempts)
        return
    async with transaction(deps.sessionmaker) as session:
        await store.mark_sent(session, pending.outbound_id, response)
    SENDS.labels(tenant.slug, pending.channel).inc()
    log.info("send.sent", turn_id=turn.id, channel=pending.channel, attempt=attempts)
    await _finish(deps, tenant, turn, pending, messages)


async def _fall_back(
    deps: Runtime, tenant: TenantConfig, pending: PendingSend, why: DependencyError | str
) -> bool:
    """Move a Whaticket reply that surely was not delivered to the tenant's fallback channel;
    False when there is none for this contact (or it already moved)."""
    if pending.channel != "whaticket":
        return False
    channel = fallback.choose(tenant, pending.phone, pending.email)
    if channel is None:
        return False
    reason = why if isinstance(why, str) else why.error_class
    async with transaction(deps.sessionmaker) as session:
        return await fallback.switch(session, tenant, pending.outbound_id, channel, reason)


async def _send_failed(
    deps: Runtime,
    tenant: TenantConfig,
    turn_id: int,
    exc: DependencyError,
    attempts: int,
) -> None:
    retry = isinstance(exc, TransientError) and attempts < deps.settings.send_max_attempts
    handoff_id = await failures.record_send_failure(
        deps.sessionmaker, tenant, turn_id, exc, attempts, retry=retry
    )
    await _enqueue_handoff(deps, handoff_id)
    log.warning("send.failed", turn_id=turn_id, error_class=exc.error_class, attempt=attempts)
    if retry:
        raise RetryLater(max(backoff(attempts, base=2.0), exc.retry_after or 0), exc.error_class)


async def _enqueue_handoff(deps: Runtime, handoff_id: int | None) -> None:
    """After the commit that created it; a lost enqueue is re-done by the handoff watcher."""
    if handoff_id is not None:
        await jobs.enqueue_handoff(deps.redis, handoff_id)


async def _finish(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    pending: PendingSend,
    messages: list[MessageRow],
) -> None:
    """Close the turn and remember the exchange (a fallback is not part of the history)."""
    async with transaction(deps.sessionmaker) as session:
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
        TURN_LATENCY.labels(tenant.slug).observe(_age(messages))
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
