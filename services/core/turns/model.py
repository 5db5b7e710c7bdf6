"""Asking the model, and guarding what it says.

The request carries the tenant's prompt, the knowledge this turn's words found, what the model
must know about the conversation (humans away, a person just had it, a new session), and the
history with every customer turn fenced by a per-request boundary. The call runs behind the
Gemini breaker and within the tenant's monthly budget; a failure retries with backoff until the
turn's give-up budget is spent, then the turn is dead-lettered with the honest fallback. Every
reply passes the output guard before it is stored.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from services.core import budget, guard, hours, knowledge
from services.core.conversations import memory
from services.core.db import autocommit
from services.core.errors import DependencyError, TransientError
from services.core.handoff.messages import say
from services.core.llm.offline import OfflineResponder
from services.core.llm.types import ChatMessage, LlmReply, LlmRequest
from services.core.logging import get_logger
from services.core.metrics import (
    BREAKER_REJECTIONS,
    GUARD_BLOCKED,
    LLM_ERRORS,
    LLM_LATENCY,
    LLM_TOKENS,
)
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.messages import Kind

from . import failures, prompt
from .store import TurnRef

log = get_logger(__name__)


async def build_request(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    texts: list[str],
    remembered: memory.History,
    found: list[knowledge.Snippet],
    now: datetime,
) -> LlmRequest:
    """The model's request for this turn's customer texts, with the knowledge they found."""
    spec = tenant.spec
    _log_input_flags(tenant, texts)
    boundary = guard.new_boundary()  # one per request: all its customer turns, and the rules
    # Out of hours, the model is told when humans return, so a handoff promise is honest.
    away = hours.after_hours_note(spec.business_hours, spec.persona.language, now)
    notes = [
        *([away] if away else []),
        *await _conversation_notes(deps, tenant, turn),
        *prompt.summary_notes(remembered.summary, boundary),
    ]
    history = [
        prompt.customer_turn([m.text], boundary) if m.role == "user" else m
        for m in remembered.messages
    ]
    return LlmRequest(
        model=tenant.model_override or spec.llm.model,
        system_prompt=prompt.system_prompt(
            spec, notes, canary=canary(deps, tenant), boundary=boundary, snippets=found
        ),
        history=_merge_roles([*history, prompt.customer_turn(texts, boundary)]),
        allow_handoff=spec.features.handoff,
        correlation_id=turn.correlation_id,
    )


async def _conversation_notes(deps: Runtime, tenant: TenantConfig, turn: TurnRef) -> list[str]:
    """What the model must know about this conversation's past: a person just had it, or the
    customer is back after the context expired (a new session)."""
    async with autocommit(deps.sessionmaker) as session:
        return await memory.session_notes(
            session,
            turn.conversation_id,
            before_turn=turn.id,
            ttl_minutes=tenant.spec.conversation.context_ttl_minutes,
        )


def _merge_roles(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Gemini expects alternating roles; consecutive messages of one side become one."""
    merged: list[ChatMessage] = []
    for message in messages:
        if merged and merged[-1].role == message.role:
            merged[-1] = ChatMessage(message.role, merged[-1].text + "\n" + message.text)
        else:
            merged.append(message)
    return merged


def canary(deps: Runtime, tenant: TenantConfig) -> str:
    return guard.tenant_canary(deps.settings.secret_key.get_secret_value(), tenant.id)


def _log_input_flags(tenant: TenantConfig, texts: list[str]) -> None:
    """Heuristic flags are advisory (reliability.md §5.2 #6): logged, never a gate."""
    flags = sorted({flag for text in texts for flag in guard.screen(text).flags})
    if flags:
        log.info("guard.input_flagged", tenant=tenant.slug, flags=flags)


async def call(
    deps: Runtime,
    tenant: TenantConfig,
    turn: TurnRef,
    request: LlmRequest,
    age: float,
    found: list[knowledge.Snippet],
) -> LlmReply | None:
    """The reply, or None after storing the fallback; raises RetryLater for another try.

    ``age`` counts against ``turnGiveUpAfterSeconds``; the knowledge ``found`` answers alone
    when the tenant is over budget or has no key (the offline responder)."""
    now = deps.clock()
    if (await budget.current(deps.sessionmaker, tenant, now)).exhausted:  # no model call
        return await budget.knowledge_only_reply(tenant, turn.id, request, now, snippets=found)
    model_client, breaker_name = deps.llm_for(tenant)
    client = model_client or OfflineResponder.from_search(
        found, no_match=say(tenant.spec, Kind.NO_ANSWER, now)
    )
    breaker = deps.breaker(breaker_name)
    decision = await breaker.allow()
    if not decision.allowed:
        BREAKER_REJECTIONS.labels("gemini").inc()
        if age > deps.settings.turn_give_up_after_seconds:
            await failures.give_up_generating(
                deps, tenant, turn.id, "gemini_breaker_open", turn.attempts
            )
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
            await failures.give_up_generating(deps, tenant, turn.id, exc.error_class, attempts)
            return None
        raise RetryLater(max(backoff(attempts), exc.retry_after or 0), exc.error_class) from exc
    await breaker.record_success()
    LLM_LATENCY.labels(tenant.slug, reply.model).observe(time.perf_counter() - started)
    LLM_TOKENS.labels(tenant.slug, "prompt").inc(reply.prompt_tokens or 0)
    LLM_TOKENS.labels(tenant.slug, "output").inc(reply.output_tokens or 0)
    if breaker_name != "offline":
        await budget.record_usage(deps.sessionmaker, tenant, reply, now)
    return reply


async def guarded_text(
    deps: Runtime, tenant: TenantConfig, turn: TurnRef, reply: LlmReply, typed: list[str]
) -> str:
    """The reply's text once the output guard (:mod:`services.core.guard.output`) passed it: a
    leak becomes the tenant's ``messages.blocked`` (``messages.fallback`` for another tenant's
    words); the reason is logged and counted, never the text. ``typed`` is what the customer
    wrote (this turn and the remembered ones): echoing it is no leak."""
    if reply.blocked:  # Gemini's own safety filters
        return say(tenant.spec, Kind.BLOCKED, deps.clock())
    text = reply.text.strip()
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
            tenant.spec, canary(deps, tenant), secrets=secrets, foreign=foreign, tenant_id=tenant.id
        ),
    )
    verdict = output_guard.check(text, typed)
    if verdict.reason is None:
        return text
    GUARD_BLOCKED.labels(tenant.slug, verdict.reason).inc()
    log.warning("guard.blocked", tenant=tenant.slug, turn_id=turn.id, reason=verdict.reason)
    if verdict.reason == "cross_tenant":  # nobody takes over: the default promises no person
        return say(tenant.spec, Kind.FALLBACK, deps.clock(), person_follows=False)
    return say(tenant.spec, Kind.BLOCKED, deps.clock())
