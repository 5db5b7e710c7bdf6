"""``atende contacts export``: everything stored about one customer, as one JSON document.

The shape is versioned (``format``) and documented in docs/privacy.md; keys are stable, lists
are oldest first, times are ISO 8601 in UTC. Raw webhook payloads are included as stored
(``{}`` once retention erased them). Nothing of another customer or tenant is read: every
query is bounded by this customer's ids (:mod:`.subject`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .subject import Subject

FORMAT = "atende.contact-export/1"

_CONTACTS = (
    "SELECT id, phone, lid, name, email, created_at, updated_at FROM contacts "
    "WHERE id = ANY(:ids) ORDER BY id"
)
_CONVERSATIONS = (
    "SELECT id, contact_id, connection, state, campaign, campaign_at, last_inbound_at, "
    "created_at, updated_at FROM conversations WHERE id = ANY(:ids) ORDER BY id"
)
_PER_CONVERSATION = {
    "messages": "SELECT id, conversation_id, provider_msg_id, kind, text, sent_at, received_at, "
    "turn_id, payload FROM inbound_messages WHERE conversation_id = ANY(:ids) ORDER BY id",
    "replies": "SELECT id, conversation_id, turn_id, kind, channel, text, status, "
    "delivery_status, attempts, sent_at, created_at FROM outbound_messages "
    "WHERE conversation_id = ANY(:ids) ORDER BY id",
    "turns": "SELECT id, conversation_id, status, model, prompt_tokens, output_tokens, "
    "knowledge_ids, created_at, answered_at FROM turns WHERE conversation_id = ANY(:ids) "
    "ORDER BY id",
    "handoffs": "SELECT id, conversation_id, turn_id, trigger, reason, summary, status, "
    "ticket_id, queue_id, note_text, note_status, created_at, transferred_at, resolved_at, "
    "resolution FROM handoffs WHERE conversation_id = ANY(:ids) ORDER BY id",
}
_DEAD_LETTERS = (
    "SELECT d.id, t.conversation_id, d.turn_id, d.stage, d.error_class, d.status, d.context, "
    "d.created_at, d.resolved_at FROM dead_letters d JOIN turns t ON t.id = d.turn_id "
    "WHERE t.conversation_id = ANY(:ids) ORDER BY d.id"
)
_EVENTS = (
    "SELECT id, subscription, event_type, status, payload, created_at, delivered_at "
    "FROM event_deliveries WHERE id = ANY(:ids) ORDER BY id"
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


async def _rows(session: AsyncSession, sql: str, ids: tuple[int, ...]) -> list[dict[str, Any]]:
    if not ids:
        return []
    result = await session.execute(text(sql), {"ids": list(ids)})
    return [{key: _plain(value) for key, value in row.items()} for row in result.mappings()]


async def export(session: AsyncSession, subject: Subject, now: datetime) -> dict[str, Any]:
    """The export document of ``subject`` (found with :func:`.subject.find_subject`)."""
    conversations = await _rows(session, _CONVERSATIONS, subject.conversation_ids)
    children = {
        name: await _rows(session, sql, subject.conversation_ids)
        for name, sql in _PER_CONVERSATION.items()
    }
    for conversation in conversations:
        for name, rows in children.items():
            conversation[name] = [
                {k: v for k, v in row.items() if k != "conversation_id"}
                for row in rows
                if row["conversation_id"] == conversation["id"]
            ]
        conversation["dead_letters"] = []
    letters = await _rows(session, _DEAD_LETTERS, subject.conversation_ids)
    by_id = {conversation["id"]: conversation for conversation in conversations}
    for letter in letters:
        by_id[letter.pop("conversation_id")]["dead_letters"].append(letter)
    return {
        "format": FORMAT,
        "tenant": subject.tenant,
        "phone": subject.phone,
        "exported_at": _plain(now),
        "found": subject.found,
        "contacts": await _rows(session, _CONTACTS, subject.contact_ids),
        "conversations": conversations,
        "events": await _rows(session, _EVENTS, subject.event_ids),
    }
