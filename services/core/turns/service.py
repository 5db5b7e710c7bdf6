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
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.breaker import CircuitBreaker
from services.core.conversations import memory
from services.core.conversations.service import acquire_lease, release_lease
from services.core.db import transaction
from services.core.dlq.service import record_dead_letter
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.llm.types import ChatMessage, LlmReply, LlmRequest
from services.core.logging import bind_correlation_id, get_logger
from services.core.metrics import (
    AMBIGUOUS_SENDS,
    BREAKER_REJECTIONS,
    DEAD_LETTERS,
    LLM_ERRORS,
    LLM_LATENCY,
    LLM_TOKENS,
    SEND_ERRORS,
    SENDS,
    TURN_LATENCY,
    TURNS,
)
from services.core.models import (
    OPEN_TURN_STATES,
    Contact,
    Conversation,
    InboundMessage,
    OutboundMessage,
    Turn,
)
from services.core.tenants.directory import TenantConfig

from . import prompt
from .deps import TurnDeps

log = get_logger(__name__)

# A burst is answered at the latest this long after its first message, however chatty.
MAX_BURST_WAIT_FACTOR = 4
# A turn is never superseded once its first message is this old: answer, even if stale.
SUPERSEDE_WINDOW_SECONDS = 60.0
BLOCKED_REPLY = "Desculpe, não posso ajudar com isso por aqui. Posso chamar um atendente?"
HANDOFF_REPLY = "Certo! Vou chamar um atendente humano para continuar com você."


class RetryLater(Exception):
    """Stop now and run this job again after ``defer`` seconds."""

    def __init__(self, defer: float, reason: str) -> None:
        super().__init__(reason)
        self.defer = defer
        self.reason = reason


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Full jitter: spreads retries of many turns so they do not hit Gemini in waves."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempt - 1)))


@dataclass(frozen=True, slots=True)
class _Burst:
    newest: datetime | None
    oldest: datetime | None
    now: datetime


async def process_inbound(deps: TurnDeps, inbound_id: int, *, owner: str | None = None) -> None:
    """Answer the conversation this message belongs to, with whatever else is unanswered."""
    owner = owner or uuid.uuid4().hex
    async with deps.sessionmaker() as session:
        message = await session.get(InboundMessage, inbound_id)
        if message is None:
            return
        conversation_id, tenant_id = message.conversation_id, message.tenant_id
        bind_correlation_id(message.correlation_id)
    tenant = await deps.tenants.by_id(tenant_id)
    if tenant is None or not tenant.enabled:
        log.info("turn.tenant_disabled", tenant_id=tenant_id)
        return
    await _wait_for_quiet(deps, tenant, conversation_id)
    async with _leased(deps, conversation_id, owner):
        while (turn := await _next_turn(deps, tenant, conversation_id)) is not None:
            bind_correlation_id(turn.correlation_id)
            await _run_turn(deps, tenant, turn, owner)


async def _burst(session: AsyncSession, conversation_id: int) -> _Burst:
    row = (
        await session.execute(
            select(
                func.max(InboundMessage.received_at),
                func.min(InboundMessage.received_at),
                func.now(),
            ).where(
                InboundMessage.conversation_id == conversation_id,
                InboundMessage.turn_id.is_(None),
            )
        )
    ).one()
    return _Burst(newest=row[0], oldest=row[1], now=row[2])


async def _wait_for_quiet(deps: TurnDeps, tenant: TenantConfig, conversation_id: int) -> None:
    """Debounce: wait until the customer paused for ``debounceSeconds`` (bounded in total)."""
    debounce = tenant.spec.conversation.debounce_seconds
    if debounce <= 0:
        return
    while True:
        async with deps.sessionmaker() as session:
            burst = await _burst(session, conversation_id)
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
async def _leased(deps: TurnDeps, conversation_id: int, owner: str) -> AsyncIterator[None]:
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


async def _next_turn(deps: TurnDeps, tenant: TenantConfig, conversation_id: int) -> Turn | None:
    """The conversation's unfinished turn, or a new one holding every unanswered message."""
    async with transaction(deps.sessionmaker) as session:
        turn = await session.scalar(
            select(Turn)
            .where(Turn.conversation_id == conversation_id, Turn.status.in_(OPEN_TURN_STATES))
            .order_by(Turn.id)
            .limit(1)
        )
        if turn is not None:
            return turn
        messages = list(
            await session.scalars(
                select(InboundMessage)
                .where(
                    InboundMessage.conversation_id == conversation_id,
                    InboundMessage.turn_id.is_(None),
                )
                .order_by(InboundMessage.id)
                .with_for_update(skip_locked=True)
            )
        )
        if not messages:
            return None
        turn = Turn(
            tenant_id=tenant.id,
            conversation_id=conversation_id,
            status="pending",
            attempts=0,
            correlation_id=messages[-1].correlation_id,
        )
        session.add(turn)
        await session.flush()
        await session.execute(
            update(InboundMessage)
            .where(InboundMessage.id.in_([m.id for m in messages]))
            .values(turn_id=turn.id)
        )
        return turn


async def _run_turn(deps: TurnDeps, tenant: TenantConfig, turn: Turn, owner: str) -> None:
    if turn.status == "pending":
        generated = await _generate(deps, tenant, turn, owner)
        if not generated:
            return
    await _send(deps, tenant, turn.id)


async def _turn_messages(session: AsyncSession, turn_id: int) -> list[InboundMessage]:
    return list(
        await session.scalars(
            select(InboundMessage)
            .where(InboundMessage.turn_id == turn_id)
            .order_by(InboundMessage.id)
        )
    )


def _turn_age(messages: list[InboundMessage]) -> float:
    first = min(m.received_at for m in messages)
    return (datetime.now(UTC) - first).total_seconds()


async def _generate(deps: TurnDeps, tenant: TenantConfig, turn: Turn, owner: str) -> bool:
    """Ask the model and store its reply. False when the turn was superseded instead."""
    spec = tenant.spec
    async with deps.sessionmaker() as session:
        messages = await _turn_messages(session, turn.id)
        turn_started = await session.scalar(select(Turn.created_at).where(Turn.id == turn.id))
        history = await memory.load_history(
            session,
            deps.redis,
            turn.conversation_id,
            ttl_minutes=spec.conversation.context_ttl_minutes,
            limit=spec.conversation.max_context_messages,
        )
    if not messages:  # its messages moved on (a replay); nothing left to answer
        await _set_status(deps, turn.id, "superseded")
        return False
    texts = [memory.render_customer_text(m.kind, m.text) for m in messages]
    request = LlmRequest(
        model=spec.llm.model,
        system_prompt=prompt.system_prompt(spec),
        history=_merge_roles([*_delimit(history), prompt.customer_turn(texts)]),
        allow_handoff=spec.features.handoff,
        correlation_id=turn.correlation_id,
    )
    age = _turn_age(messages)
    if turn_started is not None:
        # The give-up budget runs from this turn's start: a replayed dead letter gets a fresh
        # one instead of failing at once because its messages are old.
        age = min(age, (datetime.now(UTC) - turn_started).total_seconds())
    reply = await _call_llm(deps, tenant, turn, request, age)
    if reply is None:
        return True  # a fallback reply was stored in its place
    text = _reply_text(reply)
    async with transaction(deps.sessionmaker) as session:
        if not await acquire_lease(
            session, turn.conversation_id, owner, deps.settings.lease_seconds
        ):
            raise RetryLater(1.0, "lease lost")
        newest = await session.scalar(
            select(func.max(InboundMessage.id)).where(
                InboundMessage.conversation_id == turn.conversation_id,
                InboundMessage.turn_id.is_(None),
            )
        )
        if newest is not None and _turn_age(messages) < SUPERSEDE_WINDOW_SECONDS:
            await _supersede(session, turn.id)
            log.info("turn.superseded", turn_id=turn.id)
            TURNS.labels(tenant.slug, "superseded").inc()
            return False
        await _store_reply(session, tenant, turn, text, kind="reply", reply=reply)
    return True


def _delimit(history: list[ChatMessage]) -> list[ChatMessage]:
    return [prompt.customer_turn([m.text]) if m.role == "user" else m for m in history]


def _merge_roles(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Gemini expects alternating roles; consecutive messages of one side become one."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, merged[-1].text + "\n" + message.text)
        else:
            merged.append(message)
    return merged


def _reply_text(reply: LlmReply) -> str:
    if reply.blocked:
        return BLOCKED_REPLY
    if reply.handoff is not None and not reply.text.strip():
        return HANDOFF_REPLY
    return reply.text.strip()


async def _call_llm(
    deps: TurnDeps, tenant: TenantConfig, turn: Turn, request: LlmRequest, age: float
) -> LlmReply | None:
    """The reply, or None after storing the fallback; raises RetryLater for another try."""
    client, breaker_name = deps.llm_for(tenant)
    breaker = deps.breaker(breaker_name)
    decision = await breaker.allow()
    if not decision.allowed:
        BREAKER_REJECTIONS.labels("gemini").inc()
        if age > deps.settings.turn_give_up_after_seconds:
            await _give_up(deps, tenant, turn.id, "llm", "gemini_breaker_open", turn.attempts)
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
        attempts = await _note_attempt(deps, turn.id, exc)
        log.warning("llm.failed", error_class=exc.error_class, attempt=attempts)
        retry_allowed = (
            isinstance(exc, TransientError)
            and attempts < deps.settings.turn_max_attempts
            and age < deps.settings.turn_give_up_after_seconds
        )
        if not retry_allowed:
            await _give_up(deps, tenant, turn.id, "llm", exc.error_class, attempts)
            return None
        raise RetryLater(max(backoff(attempts), exc.retry_after or 0), exc.error_class) from exc
    await breaker.record_success()
    LLM_LATENCY.labels(tenant.slug, reply.model).observe(time.perf_counter() - started)
    LLM_TOKENS.labels(tenant.slug, "prompt").inc(reply.prompt_tokens or 0)
    LLM_TOKENS.labels(tenant.slug, "output").inc(reply.output_tokens or 0)
    return reply


async def _note_attempt(deps: TurnDeps, turn_id: int, exc: DependencyError) -> int:
    async with transaction(deps.sessionmaker) as session:
        turn = await session.get(Turn, turn_id, with_for_update=True)
        assert turn is not None
        turn.attempts += 1
        turn.error_class = exc.error_class
        turn.last_error = exc.message[:500]
        return turn.attempts


async def _set_status(deps: TurnDeps, turn_id: int, status: str) -> None:
    async with transaction(deps.sessionmaker) as session:
        await session.execute(update(Turn).where(Turn.id == turn_id).values(status=status))


async def _supersede(session: AsyncSession, turn_id: int) -> None:
    await session.execute(update(Turn).where(Turn.id == turn_id).values(status="superseded"))
    await session.execute(
        update(InboundMessage).where(InboundMessage.turn_id == turn_id).values(turn_id=None)
    )


async def _store_reply(
    session: AsyncSession,
    tenant: TenantConfig,
    turn: Turn,
    text: str,
    *,
    kind: str,
    reply: LlmReply | None = None,
) -> None:
    """The reply row first, then the turn moves to ``replying``: one statement each, one tx."""
    channel = "sandbox" if tenant.spec.whaticket.url is None else "whaticket"
    await session.execute(
        insert(OutboundMessage)
        .values(
            turn_id=turn.id,
            tenant_id=turn.tenant_id,
            conversation_id=turn.conversation_id,
            kind=kind,
            channel=channel,
            text=text,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["turn_id"])
    )
    values: dict[str, object] = {"status": "replying"}
    if reply is not None:
        values |= {
            "model": reply.model,
            "prompt_tokens": reply.prompt_tokens,
            "output_tokens": reply.output_tokens,
        }
    await session.execute(update(Turn).where(Turn.id == turn.id).values(**values))


async def _dead_letter_context(
    session: AsyncSession, tenant: TenantConfig, turn: Turn
) -> dict[str, object]:
    messages = await _turn_messages(session, turn.id)
    outbound = await session.scalar(
        select(OutboundMessage).where(OutboundMessage.turn_id == turn.id)
    )
    conversation = await session.get(Conversation, turn.conversation_id)
    assert conversation is not None
    contact = await session.get(Contact, conversation.contact_id)
    return {
        "tenant": tenant.slug,
        "conversation_id": turn.conversation_id,
        "connection": conversation.connection,
        "contact": {"phone": contact.phone, "lid": contact.lid} if contact else None,
        "correlation_id": turn.correlation_id,
        "messages": [{"id": m.id, "kind": m.kind, "text": m.text} for m in messages],
        "reply": outbound.text if outbound else None,
        "last_error": turn.last_error,
    }


async def _give_up(
    deps: TurnDeps, tenant: TenantConfig, turn_id: int, stage: str, error_class: str, attempts: int
) -> None:
    """Dead-letter the turn and answer the customer honestly with the tenant's fallback."""
    async with transaction(deps.sessionmaker) as session:
        turn = await session.get(Turn, turn_id, with_for_update=True)
        assert turn is not None
        context = await _dead_letter_context(session, tenant, turn)
        await record_dead_letter(
            session,
            turn,
            stage=stage,
            error_class=error_class,
            error=turn.last_error or error_class,
            attempts=attempts,
            context=context,
        )
        turn.error_class = error_class
        await _store_reply(
            session, tenant, turn, tenant.spec.persona.fallback_message, kind="fallback"
        )
    DEAD_LETTERS.labels(tenant.slug, stage).inc()
    log.error("turn.dead_letter", turn_id=turn_id, stage=stage, error_class=error_class)


async def _send(deps: TurnDeps, tenant: TenantConfig, turn_id: int) -> None:
    """Deliver the stored reply; retried sends re-use its text."""
    async with transaction(deps.sessionmaker) as session:
        outbound = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.turn_id == turn_id).with_for_update()
        )
        assert outbound is not None, "a replying turn always has its reply stored"
        conversation_id = outbound.conversation_id
        if outbound.status == "sent":  # crashed after the send was recorded: just close
            exchange = await _finish(session, tenant, turn_id, outbound)
        else:
            exchange = None
            row = await session.execute(
                select(Conversation.connection, Contact.phone, func.now())
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.id == outbound.conversation_id)
            )
            connection, phone, now = row.one()
            waited = (now - outbound.created_at).total_seconds()
            channel = outbound.channel
    if exchange is not None:
        await _remember(deps, tenant, conversation_id, exchange)
        return

    breaker = deps.breaker(f"whaticket:{tenant.slug}:{connection}")
    if channel != "sandbox":
        decision = await breaker.allow()
        if not decision.allowed:  # not an attempt: nothing was tried
            BREAKER_REJECTIONS.labels("whaticket").inc()
            if waited > deps.settings.turn_give_up_after_seconds:
                exc = PermanentError("whaticket_breaker_open", "Whaticket unavailable too long")
                await _send_failed(deps, tenant, turn_id, exc, 0, breaker)
                return
            raise RetryLater(decision.retry_after + random.uniform(0, 1), "whaticket breaker open")

    async with transaction(deps.sessionmaker) as session:
        outbound = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.turn_id == turn_id).with_for_update()
        )
        assert outbound is not None
        if outbound.status in ("sending", "unknown"):
            # We may already have delivered it; re-sending is the lesser evil. Counted.
            AMBIGUOUS_SENDS.labels(tenant.slug).inc()
            log.warning("send.ambiguous_retry", turn_id=turn_id, status=outbound.status)
        outbound.status = "sending"
        outbound.attempts += 1
        attempts, text = outbound.attempts, outbound.text

    try:
        if channel == "sandbox":
            response: dict[str, object] | None = {"sandbox": True}
            log.info("sandbox.reply", to=phone, text=text)
        else:
            response = await _deliver(deps, tenant, connection, phone, text)
            await breaker.record_success()
    except DependencyError as exc:
        await _send_failed(deps, tenant, turn_id, exc, attempts, breaker)
        return
    async with transaction(deps.sessionmaker) as session:
        outbound = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.turn_id == turn_id).with_for_update()
        )
        assert outbound is not None
        outbound.status = "sent"
        outbound.sent_at = func.now()
        outbound.provider_response = dict(response) if response else None
        exchange = await _finish(session, tenant, turn_id, outbound)
    SENDS.labels(tenant.slug, channel).inc()
    log.info("send.sent", turn_id=turn_id, channel=channel, attempt=attempts)
    await _remember(deps, tenant, conversation_id, exchange)


async def _deliver(
    deps: TurnDeps, tenant: TenantConfig, connection: str, phone: str | None, text: str
) -> dict[str, object] | None:
    if phone is None:
        raise PermanentError("contact_without_phone", "the contact is known only by @lid")
    token = tenant.credentials.whaticket_tokens.get(connection)
    if not token or tenant.spec.whaticket.url is None:
        raise PermanentError("whaticket_not_configured", f"no token for connection {connection}")
    result = await deps.whaticket.send_text(
        base_url=str(tenant.spec.whaticket.url),
        variant=tenant.spec.whaticket.variant,
        token=token,
        number=phone,
        body=text,
    )
    return dict(result.provider_response) if result.provider_response else None


async def _send_failed(
    deps: TurnDeps,
    tenant: TenantConfig,
    turn_id: int,
    exc: DependencyError,
    attempts: int,
    breaker: CircuitBreaker,
) -> None:
    SEND_ERRORS.labels(tenant.slug, exc.error_class).inc()
    if exc.error_class != "whaticket_breaker_open":
        if isinstance(exc, TransientError):
            await breaker.record_failure()
        else:  # Whaticket answered (bad token, bad number): it is up
            await breaker.record_success()
    retry = isinstance(exc, TransientError) and attempts < deps.settings.send_max_attempts
    async with transaction(deps.sessionmaker) as session:
        outbound = await session.scalar(
            select(OutboundMessage).where(OutboundMessage.turn_id == turn_id).with_for_update()
        )
        turn = await session.get(Turn, turn_id, with_for_update=True)
        assert outbound is not None
        assert turn is not None
        outbound.status = "unknown" if exc.ambiguous else ("pending" if retry else "failed")
        turn.error_class, turn.last_error = exc.error_class, exc.message[:500]
        if not retry:
            context = await _dead_letter_context(session, tenant, turn)
            await record_dead_letter(
                session,
                turn,
                stage="send",
                error_class=exc.error_class,
                error=exc.message,
                attempts=attempts,
                context=context,
            )
            turn.status = "dead"
    log.warning("send.failed", turn_id=turn_id, error_class=exc.error_class, attempt=attempts)
    if retry:
        raise RetryLater(max(backoff(attempts, base=2.0), exc.retry_after or 0), exc.error_class)
    DEAD_LETTERS.labels(tenant.slug, "send").inc()
    TURNS.labels(tenant.slug, "dead").inc()


async def _finish(
    session: AsyncSession, tenant: TenantConfig, turn_id: int, outbound: OutboundMessage
) -> list[ChatMessage]:
    """Close the turn; returns the exchange to remember (empty for a fallback)."""
    turn = await session.get(Turn, turn_id, with_for_update=True)
    assert turn is not None
    if turn.status not in OPEN_TURN_STATES:
        return []
    answered = outbound.kind == "reply"
    turn.status = "answered" if answered else "dead"
    turn.answered_at = func.now()
    TURNS.labels(tenant.slug, "answered" if answered else "fallback").inc()
    messages = await _turn_messages(session, turn_id)
    if messages:
        TURN_LATENCY.labels(tenant.slug).observe(_turn_age(messages))
    if not answered:
        return []
    said = [ChatMessage("user", memory.render_customer_text(m.kind, m.text)) for m in messages]
    return [*said, ChatMessage("model", outbound.text)]


async def _remember(
    deps: TurnDeps, tenant: TenantConfig, conversation_id: int, exchange: list[ChatMessage]
) -> None:
    if not exchange:
        return
    spec = tenant.spec.conversation
    await memory.remember(
        deps.redis,
        conversation_id,
        exchange,
        ttl_minutes=spec.context_ttl_minutes,
        limit=spec.max_context_messages,
    )
