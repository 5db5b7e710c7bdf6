"""The panel's read models: scoped by tenant, searchable without SQL injection."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from services.core.channels.baileys import NormalizedMessage
from services.core.conversations.queries import conversation_detail, list_conversations
from services.core.db import SessionMaker, transaction
from services.core.inbound.service import ingest
from services.core.stats.charts import message_heatmap
from services.core.tenants.overview import tenant_overviews


async def _tenant(session: object, slug: str) -> int:
    row = await session.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO tenants (slug, display_name, enabled, spec, spec_hash, "
            "webhook_secret_hashes, credentials, version) VALUES (:slug, :slug, true, "
            "CAST(:spec AS jsonb), 'h', ARRAY[]::varchar[], 'x'::bytea, 1) RETURNING id"
        ),
        {
            "slug": slug,
            "spec": '{"displayName": "x", "whaticket": {"connections": [{"name": "main"}]},'
            ' "persona": {"systemPrompt": "x"}}',
        },
    )
    tenant_id: int = row.scalar_one()
    return tenant_id


async def _message(session: object, tenant_id: int, phone: str, words: str, n: int) -> None:
    message = NormalizedMessage(f"Q{n}", "text", words, phone, None, "Maria", None)
    await ingest(
        session,  # type: ignore[arg-type]
        tenant_id=tenant_id,
        connection="main",
        message=message,
        payload={},
        correlation_id=f"c{n}",
    )


async def test_scope_search_and_detail(clean_db: SessionMaker) -> None:
    async with transaction(clean_db) as session:
        acme = await _tenant(session, "acme")
        other = await _tenant(session, "other")
        await _message(session, acme, "5511900000001", "minha fatura veio 100% errada", 1)
        await _message(session, other, "5511900000002", "quero cancelar", 2)
    async with clean_db() as session:
        everything = await list_conversations(session, scope=None)
        mine = await list_conversations(session, scope=[acme])
        found = await list_conversations(session, scope=None, search="100%")
        wildcard = await list_conversations(session, scope=None, search="_")
        injected = await list_conversations(session, scope=None, search="' OR 1=1 --")
        theirs = await conversation_detail(session, everything[0].id, scope=[-1])
        detail = await conversation_detail(session, mine[0].id, scope=[acme])
        tenants = await tenant_overviews(session, scope=[other])
        stats = await message_heatmap(session, tenant_ids=[acme], tz="UTC", now=datetime.now(UTC))
    assert {row.tenant for row in everything} == {"acme", "other"}
    assert [row.tenant for row in mine] == ["acme"]
    assert [row.tenant for row in found] == ["acme"]
    assert wildcard == []  # "_" is a character to find, not a wildcard
    assert injected == []
    assert theirs is None
    assert detail is not None
    assert [item.text for item in detail.items] == ["minha fatura veio 100% errada"]
    assert [t.slug for t in tenants] == ["other"]
    assert stats.total == 1
