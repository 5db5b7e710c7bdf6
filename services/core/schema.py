"""Schema migrations through Alembic, driven from code so the CLI, tests and `atende dev` share it.

Every migration run records, in the database, the script of each revision the schema now has
(``alembic_version_scripts``). ``helm rollback`` runs the *older* image, which does not ship the
newer revisions; its ``atende migrate downgrade head`` loads them from there, so the older
release can take the schema back to its own head.

Migrations run in a thread: Alembic's env.py runs its own event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core.config import asyncpg_url
from services.core.errors import AtendeError

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Bookkeeping beside alembic_version, not a model: written by migrations/env.py.
SCRIPTS_TABLE = "alembic_version_scripts"
# The image's own head, whatever newer revisions the database recorded.
OWN_HEAD = "head"


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate and model comparisons leave the bookkeeping table alone: it is no model's."""
    return not (type_ == "table" and name == SCRIPTS_TABLE)


class SchemaError(AtendeError):
    """The database's revision cannot be reached with the scripts at hand."""


def alembic_config(
    database_url: str,
    *,
    stdout: TextIO | None = None,
    extra_versions: Path | None = None,
    runtime_role: str | None = None,
) -> Config:
    """``runtime_role``: the role migrations/env.py grants the runtime's privileges to after
    the run, in its transaction (services/core/db_roles.py); None with a single role."""
    config = Config(stdout=stdout) if stdout is not None else Config()
    config.attributes["runtime_role"] = runtime_role
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.set_main_option("path_separator", "os")
    locations = [MIGRATIONS_DIR / "versions", *([extra_versions] if extra_versions else [])]
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    return config


def own_head() -> str:
    """The newest revision this image ships."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    if head is None:
        raise SchemaError("this image ships no migrations")
    return head


def upgrade(database_url: str, revision: str = "head", *, runtime_role: str | None = None) -> None:
    command.upgrade(alembic_config(database_url, runtime_role=runtime_role), revision)


def downgrade(database_url: str, revision: str, *, runtime_role: str | None = None) -> None:
    """Down to ``revision`` (``head``: this image's own), with the recorded scripts of the
    revisions this image does not ship; nothing to do when the schema is not above it."""
    target = own_head() if revision == OWN_HEAD else revision
    with _with_recorded(database_url, runtime_role=runtime_role) as (config, heads):
        if _at_or_below(ScriptDirectory.from_config(config), heads, target):
            return
        command.downgrade(config, target)


def current(database_url: str) -> str:
    out = io.StringIO()
    with _with_recorded(database_url, stdout=out) as (config, _):
        command.current(config)
    return out.getvalue().strip()


async def upgrade_async(
    database_url: str, revision: str = "head", *, runtime_role: str | None = None
) -> None:
    await asyncio.to_thread(upgrade, database_url, revision, runtime_role=runtime_role)


def _at_or_below(scripts: ScriptDirectory, heads: tuple[str, ...], target: str) -> bool:
    """Whether the schema is already at revision ``target`` or older (other forms, such as
    ``base`` or ``-1``, are Alembic's to resolve)."""
    known = {script.revision for script in scripts.walk_revisions()}
    if unknown := [head for head in heads if head not in known]:
        raise SchemaError(
            f"database at {', '.join(unknown)}: this image does not ship that revision and "
            f"{SCRIPTS_TABLE} in the database has no script for it"
        )
    if target not in known:
        return False
    applied = {s.revision for head in heads for s in scripts.iterate_revisions(head, "base")}
    return target not in applied or target in heads


@contextmanager
def _with_recorded(
    database_url: str, *, stdout: TextIO | None = None, runtime_role: str | None = None
) -> Iterator[tuple[Config, tuple[str, ...]]]:
    """An Alembic config that also sees the recorded scripts this image lacks, and the
    database's current heads."""
    heads, recorded = asyncio.run(_read_state(database_url))
    ours = ScriptDirectory.from_config(alembic_config(database_url))
    known = {script.revision for script in ours.walk_revisions()}
    missing = {rev: source for rev, source in recorded.items() if rev not in known}
    if not missing:
        yield alembic_config(database_url, stdout=stdout, runtime_role=runtime_role), heads
        return
    with tempfile.TemporaryDirectory(prefix="atende-recorded-") as tmp:
        for rev, source in missing.items():
            (Path(tmp) / f"recorded_{rev}.py").write_text(source)
        config = alembic_config(
            database_url, stdout=stdout, extra_versions=Path(tmp), runtime_role=runtime_role
        )
        yield config, heads


async def _read_state(database_url: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """The database's current heads and its recorded revision scripts."""
    engine = create_async_engine(asyncpg_url(database_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            heads: tuple[str, ...] = ()
            recorded: dict[str, str] = {}
            if "alembic_version" in tables:
                rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                heads = tuple(row[0] for row in rows)
            if SCRIPTS_TABLE in tables:
                query = sa.text(f"SELECT revision, source FROM {SCRIPTS_TABLE}")  # noqa: S608
                recorded = {rev: source for rev, source in await conn.execute(query)}
            return heads, recorded
    finally:
        await engine.dispose()
