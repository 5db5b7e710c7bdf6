"""Opening a customer's conversation, from the panel or /api/v1: the reader sees the thread, the
audit log sees the reader, and a conversation outside the reader's tenant is simply not there."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.core.conversations.viewing import open_conversation
from services.core.db import SessionMaker, transaction
from services.core.errors import NotFound
from services.core.models import AuditEvent
from tests.core.test_panel_queries import _message, _tenant


async def test_opening_a_conversation_shows_the_thread_and_records_the_reader(
    clean_db: SessionMaker,
) -> None:
    async with transaction(clean_db) as session:
        acme = await _tenant(session, "acme")
        await _message(session, acme, "5511999990001", "minha internet caiu", 1)
    async with transaction(clean_db) as session:
        detail = await open_conversation(session, 1, scope=[acme], actor="ana@acme.example")
    assert [item.text for item in detail.items] == ["minha internet caiu"]
    async with clean_db() as session:
        events = list(await session.scalars(select(AuditEvent)))
    assert [(e.actor, e.action, e.tenant_id, e.details) for e in events] == [
        ("ana@acme.example", "conversation.viewed", acme, {"conversation_id": 1})
    ]


async def test_another_tenants_conversation_is_not_found_and_nothing_is_recorded(
    clean_db: SessionMaker,
) -> None:
    async with transaction(clean_db) as session:
        acme = await _tenant(session, "acme")
        other = await _tenant(session, "other")
        await _message(session, acme, "5511999990001", "oi", 1)
    for scope in ([other], [acme]):
        conversation_id = 1 if scope == [other] else 2  # theirs, then one that does not exist
        with pytest.raises(NotFound, match="conversation not found"):
            async with transaction(clean_db) as session:
                await open_conversation(session, conversation_id, scope=scope, actor="bob")
    async with clean_db() as session:
        assert list(await session.scalars(select(AuditEvent))) == []
