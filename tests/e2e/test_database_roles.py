"""A production install's two database roles: the schema owner migrates, the api and the worker
run as a role that owns nothing. The whole pipeline works under the runtime's grants, and that
role can neither switch off the audit log's append-only triggers nor edit, empty or drop it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core.db import create_engine, create_sessionmaker
from services.core.models import AuditEvent
from tests.fixtures.db_roles import DatabaseRoles, two_roles
from tests.fixtures.servers import PostgresHandle
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

from .conftest import (
    TENANT,
    Proc,
    Stack,
    answer_for,
    baileys_text,
    eventually,
    run_atende,
    running,
)

INSUFFICIENT_PRIVILEGE = "42501"  # "permission denied" and "must be owner" alike
TAMPERING = [
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
    "DROP TRIGGER audit_events_no_change ON audit_events",
    "DROP TRIGGER audit_events_no_truncate ON audit_events",
    "UPDATE audit_events SET actor = 'someone else'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "DROP TABLE audit_events",
    "ALTER TABLE audit_events OWNER TO CURRENT_USER",
    "CREATE TRIGGER sneak BEFORE INSERT ON audit_events FOR EACH ROW "
    "EXECUTE FUNCTION atende_audit_append_only()",
    "SET session_replication_role = replica",
]


@pytest_asyncio.fixture(loop_scope="session")
async def roles(postgres: PostgresHandle) -> AsyncIterator[DatabaseRoles]:
    async with two_roles(postgres, "atende_e2e_roles") as roles:
        yield roles


@pytest_asyncio.fixture(loop_scope="session")
async def two_role_stack(
    request: pytest.FixtureRequest,
    roles: DatabaseRoles,
    tmp_path: Path,
    redis_url: str,
    redis_client: aioredis.Redis,
    gemini: GeminiStandin,
    whaticket: WhaticketStandIn,
) -> AsyncIterator[Stack]:
    """The schema migrated by `atende migrate upgrade` as the owner; api, worker and the CLI as
    the runtime role; the test's own reads as the superuser."""
    engine = create_engine(roles.admin_url)
    stack = Stack(
        tmp=tmp_path,
        database_url=roles.runtime_url,
        redis_url=redis_url,
        sessionmaker=create_sessionmaker(engine),
        redis=redis_client,
        gemini=gemini,
        whaticket=whaticket,
    )
    try:
        migrate = stack.env | {"ATENDE_MIGRATION_DATABASE_URL": roles.owner_url}
        code, out, err = await run_atende(migrate, "migrate", "upgrade")
        assert code == 0, f"{out}\n{err}"
        assert roles.owner_url not in out + err
        async with running(stack, request):
            yield stack
    finally:
        await engine.dispose()


async def _tamper(url: str, statement: str) -> str | None:
    """The SQLSTATE Postgres refused ``statement`` with, or None if it ran (rolled back)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            try:
                await conn.execute(text(statement))
            except DBAPIError as exc:
                return str(getattr(exc.orig, "sqlstate", None))
            await conn.rollback()
            return None
    finally:
        await engine.dispose()


async def test_the_runtime_role_answers_customers_but_cannot_alter_the_audit_log(
    two_role_stack: Stack, roles: DatabaseRoles
) -> None:
    stack = two_role_stack
    for proc in (stack.api, stack.worker):
        assert proc is not None

        async def checked(proc: Proc = proc) -> list[dict[str, Any]]:
            return proc.events("database.role_checked")

        seen = await eventually(checked, within=20, what=f"{proc.name}'s role check")
        assert seen[0]["role"] == roles.runtime
        assert not proc.events("database.audit_log_alterable")

    # The whole pipeline under the runtime's grants: stored, answered, sent.
    assert (await stack.post(baileys_text("ROLES-1", "Quais as formas de pagamento?"))).json() == {
        "status": "accepted"
    }
    sent = await stack.wait_sent(1)
    assert sent[0]["body"] == answer_for("Quais as formas de pagamento?")

    # An audited action, as the runtime role (the CLI reads ATENDE_DATABASE_URL).
    code, out, err = await stack.run_cli("tenants", "pause", TENANT, "--reason", "maintenance")
    assert code == 0, f"{out}\n{err}"
    before = [(e.id, e.action, e.actor, e.hash) for e in await stack.rows(AuditEvent)]
    assert "tenant.pause" in {action for _, action, _, _ in before}

    refused = {statement: await _tamper(roles.runtime_url, statement) for statement in TAMPERING}
    assert refused == dict.fromkeys(TAMPERING, INSUFFICIENT_PRIVILEGE)
    # The schema owner may (and so could a runtime role holding its rights): rolled back here.
    assert await _tamper(roles.owner_url, TAMPERING[1]) is None

    after = [(e.id, e.action, e.actor, e.hash) for e in await stack.rows(AuditEvent)]
    assert after == before
    async with stack.sessionmaker() as session:
        triggers = set(
            await session.scalars(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_events'::regclass "
                    "AND NOT tgisinternal AND tgenabled <> 'D'"
                )
            )
        )
    assert {"audit_events_no_change", "audit_events_no_truncate"} <= triggers
    assert await stack.rows(AuditEvent, AuditEvent.actor == "someone else") == []


async def test_a_single_role_install_keeps_running_and_says_its_audit_log_is_exposed(
    stack: Stack,
) -> None:
    """The suite's own stack runs as the server's superuser, as a one-role install would."""
    for proc in (stack.api, stack.worker):
        assert proc is not None

        async def warned(proc: Proc = proc) -> list[dict[str, Any]]:
            return proc.events("database.audit_log_alterable")

        warning = (await eventually(warned, within=20, what=f"{proc.name}'s warning"))[0]
        assert warning["level"] == "warning"
        assert "superuser" in warning["reasons"]
        assert "ATENDE_MIGRATION_DATABASE_URL" in warning["hint"]
    assert stack.worker is not None
    assert await stack.worker_metric(stack.worker, "atende_database_role_can_alter_audit") == 1
    assert (await stack.post(baileys_text("ONE-ROLE-1", "Oi"))).json() == {"status": "accepted"}
    await stack.wait_sent(1)
