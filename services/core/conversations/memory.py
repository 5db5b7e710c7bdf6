"""Recent turns of a conversation for the model's context.

Redis holds the last messages with the tenant's context TTL, so a turn costs one read; Postgres
is the record, so a miss (expiry, restart, flush) rebuilds the same history from the tables.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.llm.types import ChatMessage
from services.core.logging import get_logger
from services.core.models import InboundMessage, OutboundMessage, Turn

log = get_logger(__name__)


def _key(conversation_id: int) -> str:
    return f"ctx:{conversation_id}"


async def _from_postgres(
    session: AsyncSession, conversation_id: int, ttl_minutes: int, limit: int
) -> list[ChatMessage]:
    since = datetime.now(UTC) - timedelta(minutes=ttl_minutes)
    inbound = await session.execute(
        select(InboundMessage.received_at, InboundMessage.text, InboundMessage.kind)
        .join(Turn, Turn.id == InboundMessage.turn_id)
        .where(
            InboundMessage.conversation_id == conversation_id,
            InboundMessage.received_at >= since,
            Turn.status == "answered",
        )
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    outbound = await session.execute(
        select(OutboundMessage.sent_at, OutboundMessage.text)
        .where(
            OutboundMessage.conversation_id == conversation_id,
            OutboundMessage.kind == "reply",  # a fallback is never remembered (turns._finish)
            OutboundMessage.status == "sent",
            OutboundMessage.sent_at >= since,
        )
        .order_by(OutboundMessage.id.desc())
        .limit(limit)
    )
    timeline: list[tuple[datetime, ChatMessage]] = [
        (at, ChatMessage("user", render_customer_text(kind, text)))
        for at, text, kind in inbound.all()
    ]
    timeline += [(at, ChatMessage("model", text)) for at, text in outbound.all() if at]
    timeline.sort(key=lambda item: item[0])
    return [message for _, message in timeline[-limit:]]


def render_customer_text(kind: str, text: str) -> str:
    """Media the bot cannot see is named, so the model can say so honestly."""
    if kind in ("text", "button", "list"):
        return text
    label = f"[o cliente enviou: {kind}]"
    return f"{label} {text}" if text else label


async def load_history(
    session: AsyncSession,
    redis: Redis,
    conversation_id: int,
    *,
    ttl_minutes: int,
    limit: int,
) -> list[ChatMessage]:
    try:
        cached = await redis.lrange(_key(conversation_id), -limit, -1)  # type: ignore[misc]
    except (RedisError, OSError):
        cached = None
    if cached:
        items = [json.loads(raw) for raw in cached]
        return [ChatMessage(item["role"], item["text"]) for item in items]
    history = await _from_postgres(session, conversation_id, ttl_minutes, limit)
    await _store(redis, conversation_id, history, ttl_minutes, limit)
    return history


async def _store(
    redis: Redis, conversation_id: int, messages: list[ChatMessage], ttl_minutes: int, limit: int
) -> None:
    if not messages:
        return
    key = _key(conversation_id)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *[json.dumps({"role": m.role, "text": m.text}) for m in messages])
            pipe.ltrim(key, -limit, -1)
            pipe.expire(key, ttl_minutes * 60)
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("memory.store_failed", error=type(exc).__name__)


async def remember(
    redis: Redis,
    conversation_id: int,
    messages: list[ChatMessage],
    *,
    ttl_minutes: int,
    limit: int,
) -> None:
    """Append a finished exchange, only if the cache is warm (a cold cache rebuilds itself)."""
    try:
        warm = await redis.exists(_key(conversation_id))
    except (RedisError, OSError):
        return
    if warm:
        await _store(redis, conversation_id, messages, ttl_minutes, limit)
