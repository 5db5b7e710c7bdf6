"""Group commit for webhooks: messages that arrive together share one statement and one commit
(batched by :class:`services.core.coalesce.Coalescer`). A batch Postgres refuses for another
reason than being down is stored again message by message, so only the culprit fails."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import DateTime, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from services.core import events
from services.core.channels.baileys import NormalizedMessage
from services.core.db import SessionMaker, transaction
from services.core.tenants.spec import EventType

from .refusals import is_db_down

_DEADLOCK = "40P01"

# Contacts and conversations are upserted once per batch (DISTINCT ON: an upsert may not touch
# a row twice in one statement), in a fixed order so concurrent batches lock rows alike.
_INGEST_BATCH = text(
    """
    WITH input AS (
        SELECT * FROM unnest(
            CAST(:tenant_ids AS bigint[]), CAST(:phones AS text[]), CAST(:names AS text[]),
            CAST(:connections AS text[]), CAST(:msg_ids AS text[]), CAST(:kinds AS text[]),
            CAST(:texts AS text[]), CAST(:payloads AS text[]),
            CAST(:sent_ats AS timestamptz[]), CAST(:correlation_ids AS text[])
        ) WITH ORDINALITY AS i(tenant_id, phone, name, connection, provider_msg_id, kind,
                               text, payload, sent_at, correlation_id, ord)
    ), contact AS (
        INSERT INTO contacts (tenant_id, phone, name)
        SELECT DISTINCT ON (tenant_id, phone) tenant_id, phone, name FROM input
        ORDER BY tenant_id, phone, ord DESC
        ON CONFLICT (tenant_id, phone)
        DO UPDATE SET name = COALESCE(EXCLUDED.name, contacts.name), updated_at = now()
        RETURNING id, tenant_id, phone
    ), conversation AS (
        INSERT INTO conversations (tenant_id, contact_id, connection, state, last_inbound_at)
        SELECT DISTINCT ON (c.id, i.connection) i.tenant_id, c.id, i.connection, 'bot', now()
        FROM input i JOIN contact c ON c.tenant_id = i.tenant_id AND c.phone = i.phone
        ORDER BY c.id, i.connection
        ON CONFLICT (tenant_id, contact_id, connection)
        DO UPDATE SET last_inbound_at = now(), updated_at = now()
        RETURNING id, contact_id, connection
    )
    INSERT INTO inbound_messages
        (tenant_id, conversation_id, provider_msg_id, kind, text, payload, sent_at,
         correlation_id)
    SELECT i.tenant_id, v.id, i.provider_msg_id, i.kind, i.text, CAST(i.payload AS jsonb),
           i.sent_at, i.correlation_id
    FROM input i
    JOIN contact c ON c.tenant_id = i.tenant_id AND c.phone = i.phone
    JOIN conversation v ON v.contact_id = c.id AND v.connection = i.connection
    ORDER BY i.ord
    ON CONFLICT (tenant_id, provider_msg_id) DO NOTHING
    RETURNING id, tenant_id, provider_msg_id
    """
).bindparams(
    *(
        bindparam(name, type_=ARRAY(Text))
        for name in (
            "phones",
            "names",
            "connections",
            "msg_ids",
            "kinds",
            "texts",
            "payloads",
            "correlation_ids",
        )
    ),
    bindparam("sent_ats", type_=ARRAY(DateTime(timezone=True))),
)


@dataclass(frozen=True, slots=True)
class PendingMessage:
    tenant_id: int
    connection: str
    message: NormalizedMessage  # known by phone: lid-only contacts take the per-message path
    payload: str  # the raw JSON, stored as received
    correlation_id: str
    tenant_slug: str = ""
    # The tenant's event subscriptions that want message.received.
    subscriptions: tuple[str, ...] = ()


def received_event(
    tenant_id: int,
    slug: str,
    subscription: str,
    inbound_id: int,
    connection: str,
    message: NormalizedMessage,
) -> dict[str, object]:
    return events.delivery(
        tenant_id,
        slug,
        subscription,
        EventType.MESSAGE_RECEIVED,
        {
            "message_id": inbound_id,
            "provider_msg_id": message.provider_msg_id,
            "connection": connection,
            "phone": message.phone,
            "name": message.push_name,
            "kind": message.kind,
            "text": message.text,
        },
    )


async def ingest_batch(
    sessionmaker: SessionMaker, items: Sequence[PendingMessage]
) -> list[int | Exception | None]:
    """Per item its new id, None for a duplicate, or the exception that item alone failed with
    (a failed batch is split); with Postgres down, the whole batch raises."""
    try:
        return list(await _ingest_together(sessionmaker, items))
    except Exception as exc:
        if len(items) == 1 or is_db_down(exc):
            raise
    results: list[int | Exception | None] = []
    for item in items:  # each alone, in its own transaction: the others are stored
        try:
            results.extend(await _ingest_together(sessionmaker, [item]))
        except Exception as exc:
            results.append(exc)
    return results


async def _ingest_together(
    sessionmaker: SessionMaker, items: Sequence[PendingMessage]
) -> list[int | None]:
    """Store every message in one transaction; per item its new id, or None for a duplicate."""
    params = {
        "tenant_ids": [i.tenant_id for i in items],
        "phones": [i.message.phone for i in items],
        "names": [i.message.push_name for i in items],
        "connections": [i.connection for i in items],
        "msg_ids": [i.message.provider_msg_id for i in items],
        "kinds": [i.message.kind for i in items],
        "texts": [i.message.text for i in items],
        "payloads": [i.payload for i in items],
        "sent_ats": [i.message.sent_at for i in items],
        "correlation_ids": [i.correlation_id for i in items],
    }
    for attempt in (1, 2):
        try:
            async with transaction(sessionmaker) as session:
                rows = (await session.execute(_INGEST_BATCH, params)).all()
                inserted = {(tenant_id, msg_id): row_id for row_id, tenant_id, msg_id in rows}
                results: list[int | None] = []
                for item in items:  # a message sent twice in a batch is new only the first time
                    key = (item.tenant_id, item.message.provider_msg_id)
                    results.append(inserted.pop(key, None))
                await events.record(session, _received_events(items, results))
            break
        except DBAPIError as exc:  # two api processes upserting the same contacts
            if attempt == 2 or getattr(exc.orig, "sqlstate", None) != _DEADLOCK:
                raise
    return results


def _received_events(
    items: Sequence[PendingMessage], ids: Sequence[int | None]
) -> list[dict[str, object]]:
    return [
        received_event(item.tenant_id, item.tenant_slug, name, inbound_id, item.connection,
                       item.message)
        for item, inbound_id in zip(items, ids, strict=True)
        if inbound_id is not None
        for name in item.subscriptions
    ]  # fmt: skip


def payload_text(payload: dict[str, object]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
