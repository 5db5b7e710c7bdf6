"""Alembic environment: the URL comes from settings (or the caller), the schema from the models.

Online runs take an advisory lock (two `helm upgrade`s, or a hook and a developer, never migrate
at once) and, in the same transaction as the migrations, record the script of every revision the
schema then has, so an older image can later downgrade through revisions it does not ship
(services/core/schema.py), and, with two database roles, grant the runtime role exactly what it
needs on the schema as it now is (services/core/db_roles.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import context
from alembic.script import ScriptDirectory
from alembic.util import to_tuple
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from services.core import db_roles
from services.core.config import get_settings
from services.core.models import Base
from services.core.schema import SCRIPTS_TABLE, include_name

config = context.config
target_metadata = Base.metadata
LOCK_KEY = 0x61746E64  # "atnd": one migration run at a time per database

scripts_table = sa.Table(
    SCRIPTS_TABLE,
    sa.MetaData(),
    sa.Column("revision", sa.String(64), primary_key=True),
    sa.Column("down_revision", sa.String(200)),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().migration_url


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _record_scripts(connection: Connection) -> None:
    """Upsert the source of every revision now applied (ours: the image that just ran)."""
    heads = context.get_context().get_current_heads()
    scripts = ScriptDirectory.from_config(config)
    rows = [
        {
            "revision": script.revision,
            "down_revision": " ".join(to_tuple(script.down_revision, default=())) or None,
            "source": Path(script.path).read_text(),
        }
        for head in heads
        for script in scripts.iterate_revisions(head, "base")
        if script is not None
    ]
    if not rows:
        return
    insert = sa.dialects.postgresql.insert(scripts_table).values(rows)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["revision"],
            set_={"down_revision": insert.excluded.down_revision, "source": insert.excluded.source},
        )
    )


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        scripts_table.create(connection, checkfirst=True)
        context.run_migrations()
        _record_scripts(connection)
        if role := config.attributes.get("runtime_role"):
            db_roles.grant_runtime(connection, role)


async def run_migrations_online() -> None:
    engine = async_engine_from_config(
        {"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
