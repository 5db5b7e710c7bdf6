"""A conversation's memory for the model: a rolling summary plus the recent turns.

Redis holds the last ``limit`` messages with the tenant's context TTL, so a turn costs one read;
Postgres is the record, so a miss (expiry, restart, flush) rebuilds the same history from the
tables. Messages that fall out of the window are not forgotten: the customer's words among them
are folded into a short extractive summary (no model call), kept beside the window. The window
always starts at a customer message, so an exchange — a question and its answer, a tool call and
its result — is never cut in half. After the TTL the conversation starts a new session: nothing
older is in context, and :func:`session_notes` tells the model so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import fetch, fetchrow
from services.core.llm.types import ChatMessage
from services.core.logging import get_logger

log = get_logger(__name__)


SUMMARY_ITEMS = 10  # earlier customer messages kept in the summary
SUMMARY_CLIP = 160
HUMAN_WAS_HERE = (
    "Atendimento humano: um atendente humano conduziu esta conversa há pouco e a devolveu a "
    "você. As mensagens do cliente desse período estão no histórico; as respostas do atendente "
    "não. Não contradiga nem repita o que o atendente possa ter combinado; na dúvida, pergunte "
    "ao cliente como ficou."
)
NEW_SESSION = (
    "Nova sessão: o cliente voltou depois de um tempo e a conversa anterior expirou; ela não "
    "está no histórico. Trate como um novo atendimento e não suponha assuntos antigos."
)


def _key(conversation_id: int) -> str:
    return f"ctx:{conversation_id}"


def _summary_key(conversation_id: int) -> str:
    return f"ctxsum:{conversation_id}"


@dataclass(frozen=True, slots=True)
class History:
    messages: list[ChatMessage]
    # The customer's earlier words in this session, oldest first, clipped.
    summary: list[str] = field(default_factory=list)


def window(messages: list[ChatMessage], limit: int) -> tuple[list[ChatMessage], list[str]]:
    """The last ``limit`` messages starting at a customer's, and the summary of the rest."""
    cut = max(0, len(messages) - limit)
    while cut < len(messages) and messages[cut].role != "user":
        cut += 1
    return messages[cut:], [_clip(m.text) for m in messages[:cut] if m.role == "user"]


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SUMMARY_CLIP else text[: SUMMARY_CLIP - 1] + "…"


# What the customer said in answered turns (told to a person too: context when the bot is back)
# and what was sent to them (a fallback is never remembered, turns._finish; a handoff message
# is), newest first, in one round trip on asyncpg.
_TIMELINE = """
    (SELECT m.received_at AS at, 'user' AS role, m.kind, m.text
     FROM inbound_messages AS m JOIN turns AS t ON t.id = m.turn_id
     WHERE m.conversation_id = $1 AND m.received_at >= $2
       AND t.status IN ('answered', 'human')
     ORDER BY m.id DESC LIMIT $3)
    UNION ALL
    (SELECT o.sent_at, 'model', NULL, o.text
     FROM outbound_messages AS o
     WHERE o.conversation_id = $1 AND o.kind IN ('reply', 'handoff', 'workflow')
       AND o.status = 'sent' AND o.sent_at >= $2
     ORDER BY o.id DESC LIMIT $3)"""


async def _from_postgres(
    session: AsyncSession, conversation_id: int, ttl_minutes: int, limit: int
) -> History:
    since = datetime.now(UTC) - timedelta(minutes=ttl_minutes)
    rows = await fetch(session, _TIMELINE, conversation_id, since, limit + SUMMARY_ITEMS)
    timeline = [
        (
            (r["at"], r["role"] == "model"),  # on a tie, what the customer said comes first
            ChatMessage(
                r["role"],
                r["text"] if r["role"] == "model" else render_customer_text(r["kind"], r["text"]),
            ),
        )
        for r in rows
    ]
    timeline.sort(key=lambda item: item[0])
    messages, summary = window([message for _, message in timeline], limit)
    return History(messages, summary[-SUMMARY_ITEMS:])


def render_customer_text(kind: str, text: str) -> str:
    """Media the bot cannot see is named, so the model can say so honestly."""
    if kind in ("text", "button", "list"):
        return text
    if kind == "audio_text":
        return f"[mensagem de voz do cliente, transcrita] {text}"
    if kind == "image_text":
        return f"[imagem enviada pelo cliente, descrita] {text}"
    label = f"[o cliente enviou: {kind}]"
    return f"{label} {text}" if text else label


async def load_history(
    session: AsyncSession,
    redis: Redis,
    conversation_id: int,
    *,
    ttl_minutes: int,
    limit: int,
) -> History:
    """The conversation's context window: from Redis, else rebuilt from Postgres (``session``
    an :func:`~services.core.db.autocommit` one) and cached."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.lrange(_key(conversation_id), -limit, -1)
            pipe.lrange(_summary_key(conversation_id), 0, -1)
            cached, summary = await pipe.execute()
    except (RedisError, OSError):
        cached, summary = None, []
    if cached:
        items = [json.loads(raw) for raw in cached]
        return History(
            [ChatMessage(item["role"], item["text"]) for item in items],
            [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in summary],
        )
    history = await _from_postgres(session, conversation_id, ttl_minutes, limit)
    await _store(redis, conversation_id, history.messages, ttl_minutes, limit, history.summary)
    return history


async def _store(
    redis: Redis,
    conversation_id: int,
    messages: list[ChatMessage],
    ttl_minutes: int,
    limit: int,
    summary: list[str] | None = None,
) -> None:
    """Append, then move what overflows the window into the summary (one writer at a time:
    the conversation's lease)."""
    if not messages:
        return
    key, summary_key, ttl = _key(conversation_id), _summary_key(conversation_id), ttl_minutes * 60
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *[json.dumps({"role": m.role, "text": m.text}) for m in messages])
            if summary:
                pipe.rpush(summary_key, *summary)
            pipe.lrange(key, 0, -1)
            result = await pipe.execute()
        kept, overflow = window([ChatMessage(**json.loads(raw)) for raw in result[-1]], limit)
        async with redis.pipeline(transaction=True) as pipe:
            if overflow:
                pipe.rpush(summary_key, *overflow)
            pipe.ltrim(summary_key, -SUMMARY_ITEMS, -1)
            if kept:
                pipe.ltrim(key, -len(kept), -1)
            else:
                pipe.delete(key)
            pipe.expire(key, ttl)
            pipe.expire(summary_key, ttl)
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


async def session_notes(
    session: AsyncSession, conversation_id: int, *, before_turn: int, ttl_minutes: int
) -> list[str]:
    """Markers for the model: a person had this conversation and gave it back within the
    context window, or the customer is back after the context expired (a new session). One
    round trip, in an :func:`~services.core.db.autocommit` session."""
    since = datetime.now(UTC) - timedelta(minutes=ttl_minutes)
    row = await fetchrow(
        session,
        """
        SELECT (SELECT resolved_at FROM handoffs
                WHERE conversation_id = $1 AND resolved_at >= $2
                ORDER BY id DESC LIMIT 1) AS resolved,
               (SELECT max(answered_at) FROM turns
                WHERE conversation_id = $1 AND id < $3) AS last_answer""",
        conversation_id,
        since,
        before_turn,
    )
    assert row is not None  # one row, always
    resolved, last_answer = row["resolved"], row["last_answer"]
    notes: list[str] = []
    if resolved is not None:
        notes.append(HUMAN_WAS_HERE)
    if last_answer is not None and last_answer < since:
        notes.append(NEW_SESSION)
    return notes


async def forget(redis: Redis, conversation_id: int) -> None:
    """Drop the cached context: the next turn rebuilds it from Postgres (after a handoff, with
    what the customer said meanwhile)."""
    try:
        await redis.delete(_key(conversation_id), _summary_key(conversation_id))
    except (RedisError, OSError) as exc:
        log.warning("memory.forget_failed", error=type(exc).__name__)
