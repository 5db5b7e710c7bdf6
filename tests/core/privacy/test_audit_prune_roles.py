"""With the production roles, the runtime role (which owns nothing and may not delete audit
rows) erases expired audit rows only through the schema owner's ``atende_prune_audit``, and
the chain still verifies; a direct DELETE stays refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.core import schema
from services.core.audit.keys import process_keyring
from services.core.audit.service import chained, verify
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.models import AuditEvent
from services.worker.tasks.retention import enforce
from tests.fixtures.db_roles import two_roles
from tests.fixtures.servers import PostgresHandle


async def test_the_runtime_role_prunes_through_the_owners_function_only(
    postgres: PostgresHandle,
) -> None:
    async with two_roles(postgres, "atende_prune") as roles:
        await asyncio.to_thread(schema.upgrade, roles.owner_url, "head", runtime_role=roles.runtime)
        engine = create_engine(roles.runtime_url, pool_size=1)
        sessionmaker = create_sessionmaker(engine)
        try:
            keys, now, prev = process_keyring(), datetime.now(UTC), None
            async with transaction(sessionmaker) as session:
                for days in (800, 760, 10):
                    event = AuditEvent(
                        at=now - timedelta(days=days),
                        actor="cli:ana",
                        action="tenant.pause",
                        tenant_id=None,
                        details={"days": days},
                        prev_hash=prev,
                        key_id=keys.current_id,
                    )
                    event.hash = keys.sign(chained(prev, event))
                    session.add(event)
                    await session.flush()
                    prev = event.hash
            with pytest.raises(DBAPIError):
                async with transaction(sessionmaker) as session:
                    await session.execute(text("DELETE FROM audit_events"))

            assert await enforce(sessionmaker, now) == {("*", "audit"): 2}
            async with sessionmaker() as session:
                kept = list(await session.scalars(select(AuditEvent.action)))
                check = await verify(session)
            assert kept == ["tenant.pause", "audit.pruned"]
            assert check.ok, check.summary
        finally:
            await engine.dispose()
