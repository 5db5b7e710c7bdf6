"""The runtime database role: what every migration run grants it, and whether it could alter
the audit log.

Two roles (docs/operations.md, "Database roles"): the schema owner runs ``atende migrate``
(ATENDE_MIGRATION_DATABASE_URL) and owns every table; the runtime role (ATENDE_DATABASE_URL,
used by the api, the worker and the other commands) owns nothing and holds exactly what
:func:`grant_runtime` gives it. Not owning ``audit_events`` and holding no TRIGGER on it, it
cannot switch off or drop the append-only triggers; holding no UPDATE, DELETE or TRUNCATE on it,
it could not edit, remove or empty the log even if they were gone.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.errors import AtendeError
from services.core.logging import get_logger
from services.core.metrics import DATABASE_ROLE_CAN_ALTER_AUDIT
from services.core.models import AuditEvent
from services.core.schema import SCRIPTS_TABLE

log = get_logger(__name__)
AUDIT_TABLE = AuditEvent.__tablename__
# What the runtime role may do to a table; every other table gets DML.
TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
NARROWER = {
    AUDIT_TABLE: "SELECT, INSERT",  # append-only
    "alembic_version": "SELECT",  # the schema is the owner's to move
    SCRIPTS_TABLE: "SELECT",
}
RETRY_SECONDS = 5.0


class RoleError(AtendeError):
    """The two database roles are not set up as the grants need."""

    code = "database_role"


def migration_target(settings: Settings) -> tuple[str, str | None]:
    """What ``atende migrate`` connects as (the schema owner's URL) and the runtime role it
    grants to (None: one role does both, with a warning outside development)."""
    role = runtime_role(settings)
    if role is None and settings.environment != "development":
        log.warning(
            "migrate.single_role",
            hint="the runtime role owns the schema and could alter the audit log; set "
            "ATENDE_MIGRATION_DATABASE_URL to another role (docs/operations.md, Database roles)",
        )
    return settings.migration_url, role


def runtime_role(settings: Settings) -> str | None:
    """The role the migrations grant to: ATENDE_DATABASE_URL's user when
    ATENDE_MIGRATION_DATABASE_URL names another one; None with a single role."""
    if settings.migration_database_url is None:
        return None
    runtime = make_url(settings.database_url).username
    if not runtime:
        raise RoleError(
            "ATENDE_DATABASE_URL names no user: with ATENDE_MIGRATION_DATABASE_URL set, the "
            "migrations grant to ATENDE_DATABASE_URL's user"
        )
    return None if runtime == make_url(settings.migration_url).username else runtime


def grant_runtime(connection: Connection, role: str) -> None:
    """Give ``role`` exactly the runtime's privileges on the current schema's tables and
    sequences, taking back anything else it held there; idempotent, run by the schema owner
    in the migrations' transaction (migrations/env.py) so a new table is covered at once."""
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    _check_role(connection, role, schema)
    quote = connection.dialect.identifier_preparer.quote_identifier
    grantee, space = quote(role), quote(schema)
    statements = [
        f"GRANT USAGE ON SCHEMA {space} TO {grantee}",
        f"REVOKE CREATE ON SCHEMA {space} FROM {grantee}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {space} FROM {grantee}",
        f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN SCHEMA {space} TO {grantee}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {space} FROM {grantee}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {space} TO {grantee}",
    ]
    existing = set(
        connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
            {"schema": schema},
        ).scalars()
    )
    for table, privileges in NARROWER.items():
        if table in existing:
            target = f"{space}.{quote(table)}"
            statements += [
                f"REVOKE ALL ON {target} FROM {grantee}",
                f"GRANT {privileges} ON {target} TO {grantee}",
            ]
    for statement in statements:  # as written: a quoted name may hold what text() would bind
        connection.exec_driver_sql(statement)


def _check_role(connection: Connection, role: str, schema: str) -> None:
    """The runtime role exists and owns nothing here: a table it owns is one it could alter
    (and one the owner's grants cannot narrow)."""
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    if exists is None:
        raise RoleError(
            f"the runtime role {role!r} (ATENDE_DATABASE_URL's user) does not exist: create it "
            "first (docs/operations.md, Database roles)"
        )
    owned = connection.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND pg_get_userbyid(c.relowner) = :role "
            "ORDER BY c.relname LIMIT 5"
        ),
        {"schema": schema, "role": role},
    ).scalars()
    if names := list(owned):
        raise RoleError(
            f"the runtime role {role!r} owns {', '.join(names)}: hand them to the schema owner "
            "(REASSIGN OWNED BY <runtime> TO <owner>; docs/operations.md, Database roles)"
        )


# Why the connected role could change or remove audit rows: superuser, a member of the table's
# owner (ALTER TABLE … DISABLE TRIGGER, DROP TRIGGER), or a privilege the triggers alone guard.
_EXPOSURE = text(
    """
    SELECT current_user AS role,
           r.rolsuper AS superuser,
           pg_has_role(current_user, c.relowner, 'MEMBER') AS owner,
           has_table_privilege(c.oid, 'UPDATE') AS "update",
           has_table_privilege(c.oid, 'DELETE') AS "delete",
           has_table_privilege(c.oid, 'TRUNCATE') AS "truncate",
           has_table_privilege(c.oid, 'TRIGGER') AS "trigger"
    FROM pg_class c, pg_roles r
    WHERE c.oid = to_regclass(:table) AND r.rolname = current_user
    """
)


async def audit_exposure(sessionmaker: SessionMaker) -> tuple[str, list[str]]:
    """This process's role, and what lets it alter the audit log (``superuser``, ``owner``,
    ``update``, …): none when it may only read and append (or the table is not there)."""
    async with sessionmaker() as session:
        row = (await session.execute(_EXPOSURE, {"table": AUDIT_TABLE})).mappings().first()
        role = row["role"] if row else str(await session.scalar(text("SELECT current_user")))
    held = dict(row or {})
    held.pop("role", None)
    return role, [reason for reason, granted in held.items() if granted]


async def check_runtime_role(sessionmaker: SessionMaker) -> None:
    """At start-up, once Postgres answers: one warning when this role could alter the audit
    log, and the gauge ``atende_database_role_can_alter_audit`` either way. It never stops
    the process: single-role deployments keep running."""
    while True:
        try:
            role, reasons = await audit_exposure(sessionmaker)
            break
        except Exception as exc:  # Postgres down at start: ask again shortly
            log.info("database.role_check_deferred", error=type(exc).__name__)
            await asyncio.sleep(RETRY_SECONDS)
    DATABASE_ROLE_CAN_ALTER_AUDIT.set(1 if reasons else 0)
    if not reasons:
        log.info("database.role_checked", role=role, can_alter_audit=False)
    else:
        log.warning(
            "database.audit_log_alterable",
            role=role,
            reasons=reasons,
            hint="run api and worker as a role that owns nothing and migrate with "
            "ATENDE_MIGRATION_DATABASE_URL (docs/operations.md, Database roles)",
        )
