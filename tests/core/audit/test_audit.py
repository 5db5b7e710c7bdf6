"""Operational switches leave a hash chain an auditor can verify, and tampering breaks it."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.core.audit import service as audit
from services.core.db import SessionMaker, transaction
from services.core.errors import NotFound
from services.core.models import AuditEvent, Tenant
from services.core.tenants import switches
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import apply_tenant
from tests.api.webhook_app import TENANT, TENANT_YAML


async def _tenant(sessionmaker: SessionMaker) -> None:
    manifests, secrets = load_manifests(TENANT_YAML)
    async with transaction(sessionmaker) as session:
        await apply_tenant(session, manifests[0], secrets, CredentialCipher("k" * 32))


async def test_switches_write_the_row_bump_the_version_and_chain_audit_events(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    async with transaction(clean_db) as session:
        paused = await switches.pause(session, TENANT, reason="loop with a bot", actor="cli:ana")
        same = await switches.pause(session, TENANT, reason="loop with a bot", actor="cli:ana")
        model = await switches.force_model(session, TENANT, "gemini-2.5-pro", actor="cli:ana")
        resumed = await switches.resume(session, TENANT, actor="cli:bruno")
    assert (paused.version, same.outcome, model.version, resumed.version) == (2, "unchanged", 3, 4)
    async with clean_db() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == TENANT))
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        check = await audit.verify(session)
    assert tenant is not None
    assert (tenant.paused, tenant.pause_reason, tenant.model_override) == (
        False,
        None,
        "gemini-2.5-pro",
    )
    assert [(e.actor, e.action) for e in events] == [
        ("cli:ana", "tenant.pause"),
        ("cli:ana", "tenant.model"),
        ("cli:bruno", "tenant.resume"),
    ]
    assert events[0].details == {"reason": "loop with a bot"}
    assert events[0].prev_hash is None
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert check.ok
    assert check.rows == 3

    edit = text('UPDATE audit_events SET details = \'{"reason": "nothing"}\' WHERE id = :i')
    # The table refuses edits ...
    with pytest.raises(DBAPIError, match="append-only"):
        async with transaction(clean_db) as session:
            await session.execute(edit, {"i": events[0].id})
    # ... and a superuser who switches its triggers off is still caught, at that row.
    async with transaction(clean_db) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(edit, {"i": events[0].id})
    async with clean_db() as session:
        assert (await audit.verify(session)).broken_at == events[0].id


async def test_unknown_tenant_is_refused_and_nothing_is_audited(clean_db: SessionMaker) -> None:
    with pytest.raises(NotFound):
        async with transaction(clean_db) as session:
            await switches.pause(session, "nobody", reason="x", actor="cli:ana")
    async with clean_db() as session:
        assert (await audit.verify(session)).rows == 0
