"""``atende contacts forget``: one customer's rows erased from Postgres, raw payloads included,
leaving one audit row that says an erasure happened, naming the customer only by a keyed hash.

Everything runs in the caller's transaction, after :func:`.subject.find_subject` locked the
customer's contact and conversation rows: a turn's next statement on them, a new message's
contact upsert and a handoff wait for the commit, then find nothing (a new message after it
starts a new contact: the customer wrote again). What Redis holds goes after the commit
(:mod:`.volatile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.config import Settings

from .subject import Subject, subject_hash

ACTION = "contact.forgotten"

# Children first, so no foreign key is ever left pointing at an erased row.
_ERASE = (
    ("events", "DELETE FROM event_deliveries WHERE id = ANY(:events)"),
    (
        "dead_letters",
        "DELETE FROM dead_letters WHERE turn_id IN "
        "(SELECT id FROM turns WHERE conversation_id = ANY(:conversations))",
    ),
    ("handoffs", "DELETE FROM handoffs WHERE conversation_id = ANY(:conversations)"),
    ("replies", "DELETE FROM outbound_messages WHERE conversation_id = ANY(:conversations)"),
    ("messages", "DELETE FROM inbound_messages WHERE conversation_id = ANY(:conversations)"),
    ("turns", "DELETE FROM turns WHERE conversation_id = ANY(:conversations)"),
    ("conversations", "DELETE FROM conversations WHERE id = ANY(:conversations)"),
    ("contacts", "DELETE FROM contacts WHERE id = ANY(:contacts)"),
)


@dataclass(frozen=True, slots=True)
class Erasure:
    subject: str  # the keyed hash, as in the audit row
    erased: dict[str, int]  # rows per kind
    audit_id: int

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "erased": self.erased, "audit_id": self.audit_id}


async def forget(
    session: AsyncSession, settings: Settings, subject: Subject, *, actor: str
) -> Erasure:
    """Erase ``subject``'s rows (found with ``lock=True`` in this transaction) and record it."""
    params = {
        "events": list(subject.event_ids),
        "conversations": list(subject.conversation_ids),
        "contacts": list(subject.contact_ids),
    }
    erased: dict[str, int] = {}
    for kind, sql in _ERASE:
        result = await session.execute(text(sql), params)
        erased[kind] = int(getattr(result, "rowcount", 0) or 0)
    hashed = subject_hash(settings, subject.tenant_id, subject.phone)
    event = await record(
        session,
        actor=actor,
        action=ACTION,
        tenant_id=subject.tenant_id,
        details={"subject": hashed, "erased": erased},
    )
    return Erasure(hashed, erased, event.id)
