"""Reading a customer's voice note or image before the turn answers (``features.audio``,
``features.images``).

The turn waits for it: the media is fetched and decrypted (:mod:`.fetch`), handed to Gemini
with an instruction (transcribe, describe), and the text is stored on the message itself — kind
``audio_text`` or ``image_text`` — so the history, the knowledge search, the guards and the
panel all see words, and a retried turn does not pay twice. When the media cannot be read (no
Gemini key, a file the media host no longer has, a refused or blocked call, the budget spent)
the message stays media, and the bot says politely that it reads text — then hands off if the
customer sends media again, as for any media it cannot see.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence

from sqlalchemy import select, update

from services.core import budget
from services.core.channels.baileys import media_of
from services.core.channels.media import media_ref
from services.core.conversations.messages import MessageRow
from services.core.db import transaction
from services.core.errors import DependencyError, TransientError
from services.core.llm.types import MediaRequest
from services.core.logging import get_logger
from services.core.metrics import LLM_LATENCY, LLM_TOKENS, MEDIA_READ
from services.core.models import InboundMessage
from services.core.retry import RetryLater
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

log = get_logger(__name__)
# A transient failure is retried while the oldest message of the turn is younger than this.
PATIENCE_SECONDS = 30.0
READ_KIND = {"audio": "audio_text", "image": "image_text"}
INSTRUCTION = {
    "audio": (
        "Transcreva fielmente esta mensagem de voz, no idioma em que foi falada. Responda "
        "apenas com a transcrição, sem comentários."
    ),
    "image": (
        "Descreva objetivamente esta imagem em até três frases, em {language}, incluindo todo "
        "texto visível nela (números de pedido, valores, mensagens de erro)."
    ),
}


def _wanted(tenant: TenantConfig) -> set[str]:
    features = tenant.spec.features
    return {kind for kind, on in (("audio", features.audio), ("image", features.images)) if on}


async def read_media(
    deps: Runtime, tenant: TenantConfig, messages: Sequence[MessageRow], age: float
) -> list[MessageRow]:
    """The turn's messages with their voice notes and images as text, where they could be read."""
    todo = [m for m in messages if m.kind in _wanted(tenant)]
    if not todo:
        return list(messages)
    async with deps.sessionmaker() as session:
        rows = await session.execute(
            select(InboundMessage.id, InboundMessage.payload).where(
                InboundMessage.id.in_([m.id for m in todo])
            )
        )
        payloads = {message_id: payload for message_id, payload in rows}
    read: dict[int, MessageRow] = {}
    for message in todo:
        text = await _read(deps, tenant, message, payloads.get(message.id), age)
        if text is not None:
            read[message.id] = dataclasses.replace(message, kind=READ_KIND[message.kind], text=text)
    if read:
        async with transaction(deps.sessionmaker) as session:
            for row in read.values():
                await session.execute(
                    update(InboundMessage)
                    .where(InboundMessage.id == row.id, InboundMessage.kind.in_(READ_KIND))
                    .values(kind=row.kind, text=row.text)
                )
    return [read.get(m.id, m) for m in messages]


async def _read(
    deps: Runtime, tenant: TenantConfig, message: MessageRow, payload: object, age: float
) -> str | None:
    """The media as text, or None (counted and logged) when it cannot be read now."""
    found = media_of(payload)
    ref = media_ref(*found) if found is not None else None
    model_client, breaker_name = deps.llm_for(tenant)
    now = deps.clock()
    if ref is None or model_client is None:
        _unread(tenant, message, "no_media_key" if ref is None else "no_model")
        return None
    if (await budget.current(deps.sessionmaker, tenant, now)).exhausted:
        _unread(tenant, message, "over_budget")
        return None
    try:
        data = await deps.media.fetch(ref)
    except DependencyError as exc:
        _retry_or_unread(tenant, message, exc, age)
        return None
    breaker = deps.breaker(breaker_name)
    if not (await breaker.allow()).allowed:
        _unread(tenant, message, "gemini_breaker_open")
        return None
    started = time.perf_counter()
    try:
        reply = await model_client.describe(
            MediaRequest(
                model=tenant.model_override or tenant.spec.llm.model,
                instruction=INSTRUCTION[message.kind].format(language=tenant.spec.persona.language),
                data=data,
                mime_type=ref.mime_type,
            )
        )
    except DependencyError as exc:
        if isinstance(exc, TransientError):
            await breaker.record_failure()
        else:  # Gemini answered: it is up
            await breaker.record_success()
        _retry_or_unread(tenant, message, exc, age)
        return None
    await breaker.record_success()
    LLM_LATENCY.labels(tenant.slug, reply.model).observe(time.perf_counter() - started)
    LLM_TOKENS.labels(tenant.slug, "prompt").inc(reply.prompt_tokens or 0)
    LLM_TOKENS.labels(tenant.slug, "output").inc(reply.output_tokens or 0)
    await budget.record_usage(deps.sessionmaker, tenant, reply, now)
    if reply.blocked or not reply.text.strip():
        _unread(tenant, message, "blocked")
        return None
    MEDIA_READ.labels(tenant.slug, message.kind, "read").inc()
    caption = message.text.strip()
    return reply.text.strip() + (f"\nLegenda: {caption}" if caption else "")


def _retry_or_unread(
    tenant: TenantConfig, message: MessageRow, exc: DependencyError, age: float
) -> None:
    """A passing failure is tried again while the customer has not waited long."""
    if isinstance(exc, TransientError) and age < PATIENCE_SECONDS:
        raise RetryLater(1.0 + random.uniform(0, 1), f"media: {exc.error_class}") from exc
    _unread(tenant, message, exc.error_class)


def _unread(tenant: TenantConfig, message: MessageRow, reason: str) -> None:
    MEDIA_READ.labels(tenant.slug, message.kind, "unread").inc()
    log.info("media.unread", kind=message.kind, reason=reason, message_id=message.id)
