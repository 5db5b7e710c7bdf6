"""Who a data-subject request is about: one customer (a phone) of one tenant, and every row
that holds them.

A customer is their contact rows (the phone, and the ``@lid`` WhatsApp linked to it), their
conversations, and what hangs off those: messages, replies, turns, handoffs (with their
summaries and notes), dead letters of those turns, and the workflow events (the outbox) that
name the phone, a conversation or a message of theirs. The erasure's audit row names the
customer only by :func:`subject_hash`, a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.config import Settings
from services.core.errors import InvalidInput

PURPOSE = b"atende data subject v1"
PHONE_DIGITS = (8, 20)


def normalize_phone(phone: str) -> str:
    """Digits only, with the country code, as the webhook stores them (``+55 (11) 9…`` is
    accepted as written)."""
    digits = "".join(ch for ch in phone if ch.isascii() and ch.isdigit())
    low, high = PHONE_DIGITS
    if not low <= len(digits) <= high or len(phone) > 40:
        raise InvalidInput("a phone is 8 to 20 digits, with the country code")
    return digits


def subject_hash(settings: Settings, tenant_id: int, phone: str) -> str:
    """HMAC-SHA256 of the tenant and the phone under a key derived from ATENDE_SECRET_KEY
    (never the key itself): the same customer always gives the same value, so an operator who
    is asked again can tell an erasure happened, and the audit log never holds the phone."""
    secret = settings.secret_keys()[0]
    key = hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, f"{tenant_id}:{phone}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Subject:
    tenant_id: int
    tenant: str  # slug
    phone: str
    contact_ids: tuple[int, ...]
    lids: tuple[str, ...]
    conversation_ids: tuple[int, ...]
    inbound_ids: tuple[int, ...]
    handoff_ids: tuple[int, ...]
    outbound_ids: tuple[int, ...]
    event_ids: tuple[int, ...]

    @property
    def found(self) -> bool:
        return bool(self.contact_ids)


_CONTACTS = text(
    "SELECT id, lid FROM contacts WHERE tenant_id = :tenant AND phone = :phone ORDER BY id"
)
_CONVERSATIONS = text(
    "SELECT id FROM conversations WHERE tenant_id = :tenant AND contact_id = ANY(:contacts) "
    "ORDER BY id"
)
_IDS = {
    "inbound": "SELECT id FROM inbound_messages WHERE conversation_id = ANY(:c) ORDER BY id",
    "handoffs": "SELECT id FROM handoffs WHERE conversation_id = ANY(:c) ORDER BY id",
    "outbound": "SELECT id FROM outbound_messages WHERE conversation_id = ANY(:c) ORDER BY id",
}
# The outbox rows that name this customer: the phone, one of their conversations, or (for
# message.received) one of their messages. Ids are compared as text: a payload is JSON.
_EVENTS = text(
    """
    SELECT id FROM event_deliveries
    WHERE tenant_id = :tenant AND (
        payload -> 'data' ->> 'phone' = :phone
        OR payload -> 'data' ->> 'conversation_id' = ANY(:conversations)
        OR (event_type = 'message.received'
            AND payload -> 'data' ->> 'message_id' = ANY(:messages)))
    ORDER BY id
    """
)


async def find_subject(
    session: AsyncSession, tenant_id: int, slug: str, phone: str, *, lock: bool = False
) -> Subject:
    """Every id of this customer's rows. ``lock``: their contact and conversation rows are
    locked until the caller's transaction ends (a turn's lease, a new message's upsert and a
    handoff wait for it, so none writes between the read and the erasure)."""
    suffix = " FOR UPDATE" if lock else ""
    params = {"tenant": tenant_id, "phone": phone}
    contacts = (await session.execute(text(_CONTACTS.text + suffix), params)).all()
    contact_ids = [row.id for row in contacts]
    conversations: list[int] = []
    if contact_ids:
        found = await session.execute(
            text(_CONVERSATIONS.text + suffix), {"tenant": tenant_id, "contacts": contact_ids}
        )
        conversations = list(found.scalars())
    ids: dict[str, list[int]] = {name: [] for name in _IDS}
    if conversations:
        for name, sql in _IDS.items():
            ids[name] = list((await session.execute(text(sql), {"c": conversations})).scalars())
    events = await session.execute(
        _EVENTS,
        {
            **params,
            "conversations": [str(c) for c in conversations],
            "messages": [str(m) for m in ids["inbound"]],
        },
    )
    return Subject(
        tenant_id=tenant_id,
        tenant=slug,
        phone=phone,
        contact_ids=tuple(contact_ids),
        lids=tuple(row.lid for row in contacts if row.lid),
        conversation_ids=tuple(conversations),
        inbound_ids=tuple(ids["inbound"]),
        handoff_ids=tuple(ids["handoffs"]),
        outbound_ids=tuple(ids["outbound"]),
        event_ids=tuple(events.scalars()),
    )
