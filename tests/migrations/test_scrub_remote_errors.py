"""Upgrading scrubs what older releases kept of a tenant server's answer: a dead letter's error
text and its context's last error, a turn's last error, become their error class."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from services.core import schema
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.models import DeadLetter, Tenant, Turn
from tests.core.audit.test_audit import _tenant
from tests.core.dlq.test_audited import new_conversation

from .test_migrations import fresh_url  # noqa: F401 - the fixture

REMOTE = '{"internal": "secret-42", "db": "10.0.0.5:5432"}'


async def test_old_remote_answers_become_their_error_class(fresh_url: str) -> None:  # noqa: F811
    await asyncio.to_thread(schema.upgrade, fresh_url, "0011")
    engine = create_engine(fresh_url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    try:
        await _tenant(sessionmaker)
        async with transaction(sessionmaker) as session:
            tenant = await session.scalar(select(Tenant))
            assert tenant is not None
            conversation = await new_conversation(session, tenant.id, "5511999990001")
            turn = Turn(
                tenant_id=tenant.id,
                conversation_id=conversation.id,
                status="dead",
                correlation_id="c" * 32,
                error_class="whaticket_rejected",
                last_error=f"whaticket saas HTTP 400: {REMOTE}",
            )
            session.add(turn)
            await session.flush()
            session.add(
                DeadLetter(
                    tenant_id=tenant.id,
                    turn_id=turn.id,
                    stage="send",
                    error_class="whaticket_rejected",
                    error=f"whaticket saas HTTP 400: {REMOTE}",
                    attempts=1,
                    context={"tenant": tenant.slug, "last_error": REMOTE},
                )
            )
        await asyncio.to_thread(schema.upgrade, fresh_url, "head")
        async with sessionmaker() as session:
            letter = await session.scalar(select(DeadLetter))
            scrubbed_turn = await session.scalar(select(Turn))
    finally:
        await engine.dispose()
    assert letter is not None
    assert scrubbed_turn is not None
    assert (letter.error, letter.context["last_error"]) == ("whaticket_rejected",) * 2
    assert set(letter.context) == {"tenant", "last_error"}  # the rest of the context is kept
    assert scrubbed_turn.last_error == "whaticket_rejected"
