"""With two database roles, every migration run leaves the runtime role exactly the runtime's
privileges — on the tables a later revision adds too, the same however often it runs — and a
process can tell whether its role could alter the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core import db_roles, schema
from services.core.config import Settings, asyncpg_url
from services.core.db import create_engine, create_sessionmaker
from tests.fixtures.db_roles import DatabaseRoles, two_roles
from tests.fixtures.servers import PostgresHandle

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
DML = {"SELECT", "INSERT", "UPDATE", "DELETE"}


@pytest_asyncio.fixture(loop_scope="session")
async def roles(postgres: PostgresHandle) -> AsyncIterator[DatabaseRoles]:
    # A runtime name that must be quoted (capitals, a hyphen) and holds what a bind looks like.
    async with two_roles(postgres, "atende_grants", runtime_name="Atende-App:x") as roles:
        yield roles


async def _held(roles: DatabaseRoles) -> dict[str, set[str]]:
    """Each table of the schema and what the runtime role may do to it; "owner" when it owns
    it; sequences under their own name."""
    engine = create_async_engine(roles.admin_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT c.relname, c.relkind::text, pg_get_userbyid(c.relowner) = :role "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S')"
                ),
                {"role": roles.runtime},
            )
            held: dict[str, set[str]] = {}
            for name, kind, owns in rows.all():
                checks = PRIVILEGES if kind == "r" else ("USAGE", "SELECT", "UPDATE")
                function = "has_table_privilege" if kind == "r" else "has_sequence_privilege"
                granted = {
                    p
                    for p in checks
                    if await conn.scalar(
                        text(f"SELECT {function}(:role, :name, :p)"),
                        {"role": roles.runtime, "name": f'public."{name}"', "p": p},
                    )
                }
                held[name] = granted | ({"owner"} if owns else set())
            return held
    finally:
        await engine.dispose()


def _upgrade(roles: DatabaseRoles, revision: str = "head") -> None:
    schema.upgrade(roles.owner_url, revision, runtime_role=roles.runtime)


def _expected(held: dict[str, set[str]], sequences: set[str]) -> dict[str, set[str]]:
    narrow = {"audit_events": {"SELECT", "INSERT"}, "alembic_version": {"SELECT"}}
    narrow[schema.SCRIPTS_TABLE] = {"SELECT"}
    return {
        name: {"USAGE", "SELECT"} if name in sequences else narrow.get(name, DML) for name in held
    }


async def test_grants_cover_later_tables_and_are_the_same_every_run(roles: DatabaseRoles) -> None:
    await asyncio.to_thread(_upgrade, roles, "0006")
    before = await _held(roles)
    assert "audit_events" in before
    assert "event_deliveries" not in before  # revision 0007 adds it

    await asyncio.to_thread(_upgrade, roles)
    after = await _held(roles)
    sequences = {name for name in after if name.endswith("_seq")}
    assert "event_deliveries" in after
    assert after == _expected(after, sequences)

    # Run again, and after a downgrade and an upgrade: the same, nothing more, nothing less.
    await asyncio.to_thread(_upgrade, roles)
    assert await _held(roles) == after
    await asyncio.to_thread(schema.downgrade, roles.owner_url, "-1", runtime_role=roles.runtime)
    await asyncio.to_thread(_upgrade, roles)
    assert await _held(roles) == after


async def test_privileges_granted_by_hand_are_taken_back(roles: DatabaseRoles) -> None:
    await asyncio.to_thread(_upgrade, roles)
    engine = create_async_engine(roles.owner_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'GRANT ALL ON audit_events, tenants TO "{roles.runtime}"'))
    finally:
        await engine.dispose()
    assert {"UPDATE", "TRUNCATE", "TRIGGER"} <= (await _held(roles))["audit_events"]

    await asyncio.to_thread(_upgrade, roles)
    held = await _held(roles)
    assert held["audit_events"] == {"SELECT", "INSERT"}
    assert held["tenants"] == DML


async def test_a_missing_runtime_role_fails_the_run_and_migrates_nothing(
    roles: DatabaseRoles,
) -> None:
    with pytest.raises(db_roles.RoleError, match=r"'nobody_here' .* does not exist"):
        await asyncio.to_thread(schema.upgrade, roles.owner_url, "head", runtime_role="nobody_here")
    assert await asyncio.to_thread(schema.current, roles.owner_url) == ""


async def test_each_role_knows_whether_it_could_alter_the_audit_log(
    roles: DatabaseRoles,
) -> None:
    await asyncio.to_thread(_upgrade, roles)
    found = {}
    for who, url in (
        ("admin", roles.admin_url),
        ("owner", roles.owner_url),
        ("runtime", roles.runtime_url),
    ):
        engine = create_engine(url)
        try:
            found[who] = await db_roles.audit_exposure(create_sessionmaker(engine))
        finally:
            await engine.dispose()
    assert "superuser" in found["admin"][1]
    assert found["owner"] == (roles.owner, ["owner", "update", "delete", "truncate", "trigger"])
    assert found["runtime"] == (roles.runtime, [])


@pytest.mark.parametrize(
    ("runtime", "migration", "expected"),
    [
        ("postgresql://app:pw@db/atende", None, None),
        ("postgresql://app:pw@db/atende", "postgresql://owner:pw@db/atende", "app"),
        ("postgresql://app:pw@db/atende", "postgresql://app:other@db/atende", None),
    ],
)
def test_the_runtime_role_is_the_database_url_s_user_when_another_one_migrates(
    runtime: str, migration: str | None, expected: str | None
) -> None:
    settings = Settings(database_url=runtime, migration_database_url=migration)
    assert db_roles.migration_target(settings) == (
        settings.migration_url,
        expected,
    )
    assert settings.migration_url == asyncpg_url(migration or runtime)


def test_a_runtime_url_without_a_user_is_refused_with_two_roles() -> None:
    settings = Settings(
        database_url="postgresql:///atende?host=/run/pg",
        migration_database_url="postgresql://owner@db/atende",
    )
    with pytest.raises(db_roles.RoleError, match="names no user"):
        db_roles.runtime_role(settings)
