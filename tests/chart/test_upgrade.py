"""``helm install`` and ``helm upgrade`` run by Helm's own library with the chart's hooks, the
hook Jobs run as pods by the kubelet emulation acting as the Job controller (tests/chart/cluster.py:
the Job's status conditions written as https://kubernetes.io/docs/concepts/workloads/controllers/job/
describes, so that Helm sees the hook finish), against the tests' real Postgres.

``helm rollback`` itself cannot run through helm-sdkpy 0.1.32 (it builds Helm 4's rollback action
without a wait strategy, which Helm refuses: "wait strategy not set"). One level down, the hooks
of the release rolled back to, as Helm stores them in that release, run as Helm's rollback runs
them (cluster.rollback_hooks); Helm's new release revision and its re-applied manifests are not
exercised.

Images: ``v1`` is this checkout; ``v2`` adds one revision on top of its head (a table), ``v3`` one
that fails halfway (creates a table, then runs a statement Postgres refuses). At rollback Helm runs
the pre-rollback hook of the release it goes back to, with that release's image, which does not
ship the newer revision: it finds its script where ``atende migrate upgrade`` recorded it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.core import schema
from tests.fixtures.db_roles import two_roles
from tests.fixtures.servers import PostgresHandle, scratch_database

from .cluster import run_operations
from .kubelet import ROOT, image_with_revisions

pytestmark = [pytest.mark.timeout(600)]

REPOSITORY = "ghcr.io/atende/atende"
SECRET_KEY = "upgrade-box-secret-key-0123456789abcdef"
PROBE_TABLE = "atende_upgrade_probe"


def revision(name: str, down: str, upgrade_body: str, downgrade_body: str) -> str:
    return f'''"""A revision only the test's newer image ships."""

import sqlalchemy as sa
from alembic import op

revision = "{name}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{PROBE_TABLE}", sa.Column("id", sa.Integer, primary_key=True))
{upgrade_body}


def downgrade() -> None:
{downgrade_body}
    op.drop_table("{PROBE_TABLE}")
'''


@pytest_asyncio.fixture(loop_scope="session")
async def database(postgres: PostgresHandle) -> AsyncIterator[str]:
    async with scratch_database(postgres, "atende_upgrade") as url:
        yield url


@pytest.fixture
def images(tmp_path: Path) -> dict[str, str]:
    """Image reference → the bin directory standing for its venv."""
    head = schema.own_head()
    good = revision(
        f"{head}_next",
        head,
        "    op.add_column('tenants', sa.Column('probe', sa.Text))",
        "    op.drop_column('tenants', 'probe')",
    )
    bad = revision(
        f"{head}_next", head, '    op.execute("SELECT no_such_column FROM tenants")', "    pass"
    )
    v2 = image_with_revisions(tmp_path / "v2", {"99990101_next_probe.py": good})
    v3 = image_with_revisions(tmp_path / "v3", {"99990101_next_probe.py": bad})
    return {
        f"{REPOSITORY}:v1": str(ROOT / ".venv" / "bin"),
        f"{REPOSITORY}:v2": str(v2.bin_dir),
        f"{REPOSITORY}:v3": str(v3.bin_dir),
    }


def release_values(tag: str, database_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "image": {"repository": REPOSITORY, "tag": tag},
        "secrets": {"databaseUrl": database_url, "redisUrl": redis_url, "secretKey": SECRET_KEY},
    }


async def schema_state(url: str) -> tuple[str, bool, bool]:
    """(alembic revision, probe table present, tenants.probe present)."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            version = (
                await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).scalar_one()

            def inspect(c: Any) -> tuple[bool, bool]:
                found = sa.inspect(c)
                columns = {col["name"] for col in found.get_columns("tenants")}
                return found.has_table(PROBE_TABLE), "probe" in columns

            table, column = await conn.run_sync(inspect)
            return str(version), table, column
    finally:
        await engine.dispose()


async def upgrade_then_roll_back(
    tag: str, database: str, redis_url: str, images: dict[str, str], tmp_path: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Install v1 (checked), upgrade to ``tag``, roll back to release 1: the upgrade's and the
    rollback's results, each with the schema revision after it."""
    install, upgrade, rollback = await asyncio.to_thread(
        run_operations,
        {
            "images": images,
            "database_url": database,
            "operations": [
                {"op": "install", "values": release_values("v1", database, redis_url)},
                {"op": "upgrade", "values": release_values(tag, database, redis_url)},
                {"op": "rollback", "revision": 1},
            ],
        },
        tmp_path / "cluster",
    )
    assert install["error"] is None, install
    assert jobs(install) == [("atende-migrate", True)]
    assert install["schema"] == schema.own_head()
    return upgrade, rollback


def jobs(result: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(job["name"], job["succeeded"]) for job in result["jobs"]]


async def test_rollback_takes_the_schema_back_to_the_older_release_s_head(
    database: str, redis_url: str, images: dict[str, str], tmp_path: Path
) -> None:
    head = schema.own_head()
    upgrade, rollback = await upgrade_then_roll_back("v2", database, redis_url, images, tmp_path)
    assert upgrade["error"] is None, upgrade
    assert (upgrade["status"], upgrade["revision"]) == ("deployed", 2)
    assert jobs(upgrade) == [("atende-migrate", True)]
    assert upgrade["schema"] == f"{head}_next"

    assert rollback["error"] is None, rollback
    # The hook of release 1, with release 1's image, which does not ship the newer revision.
    [ran] = rollback["jobs"]
    assert (ran["name"], ran["succeeded"], ran["image"]) == (
        "atende-migrate-rollback",
        True,
        f"{REPOSITORY}:v1",
    )
    assert ran["args"] == ["migrate", "downgrade", "head"]
    assert await schema_state(database) == (head, False, False)


async def test_a_failed_migration_fails_the_upgrade_and_leaves_the_previous_head(
    database: str, redis_url: str, images: dict[str, str], tmp_path: Path
) -> None:
    head = schema.own_head()
    upgrade, rollback = await upgrade_then_roll_back("v3", database, redis_url, images, tmp_path)
    assert upgrade["error"] is not None
    assert "pre-upgrade hooks failed" in upgrade["error"], upgrade
    assert (upgrade["status"], upgrade["revision"]) == ("failed", 2)
    # backoffLimit retries, each failing inside its one transaction.
    assert [succeeded for _, succeeded in jobs(upgrade)] == [False]
    # Why, as the logs show a database error: its class and SQLSTATE, never Postgres' text.
    assert "UndefinedColumnError) sqlstate=42703" in upgrade["jobs"][0]["log"]
    assert upgrade["schema"] == head

    # Going back needs nothing undone: the older release's hook finds the schema at its head.
    assert rollback["error"] is None, rollback
    assert jobs(rollback) == [("atende-migrate-rollback", True)]
    assert await schema_state(database) == (head, False, False)


async def test_with_two_roles_the_hooks_migrate_as_the_owner_and_the_runtime_role_stays_narrow(
    postgres: PostgresHandle, redis_url: str, images: dict[str, str], tmp_path: Path
) -> None:
    """secrets.migrationDatabaseUrl reaches the upgrade hook and the rollback hook: they add and
    drop the newer revision's table (only the owner may), and grant the runtime role."""
    head = schema.own_head()
    async with two_roles(postgres, "atende_upgrade_roles") as roles:

        def values(tag: str) -> dict[str, Any]:
            release = release_values(tag, roles.runtime_url, redis_url)
            release["secrets"]["migrationDatabaseUrl"] = roles.owner_url
            return release

        install, upgrade, rollback = await asyncio.to_thread(
            run_operations,
            {
                "images": images,
                "database_url": roles.admin_url,
                "operations": [
                    {"op": "install", "values": values("v1")},
                    {"op": "upgrade", "values": values("v2")},
                    {"op": "rollback", "revision": 1},
                ],
            },
            tmp_path / "cluster",
        )
        for result, job in (
            (install, "atende-migrate"),
            (upgrade, "atende-migrate"),
            (rollback, "atende-migrate-rollback"),
        ):
            assert result["error"] is None, result
            assert jobs(result) == [(job, True)]
            assert roles.owner_url not in json.dumps(result)
        assert upgrade["schema"] == f"{head}_next"
        assert await schema_state(roles.admin_url) == (head, False, False)

        engine = create_async_engine(roles.admin_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                owned = await conn.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                        "AND pg_get_userbyid(c.relowner) = :role"
                    ),
                    {"role": roles.runtime},
                )
                privileges = {
                    (table, p): await conn.scalar(
                        sa.text("SELECT has_table_privilege(:role, :table, :p)"),
                        {"role": roles.runtime, "table": table, "p": p},
                    )
                    for table in ("tenants", "audit_events")
                    for p in ("INSERT", "UPDATE", "TRUNCATE")
                }
        finally:
            await engine.dispose()
        assert owned == 0
        assert privileges == {
            ("tenants", "INSERT"): True,
            ("tenants", "UPDATE"): True,
            ("tenants", "TRUNCATE"): False,
            ("audit_events", "INSERT"): True,
            ("audit_events", "UPDATE"): False,
            ("audit_events", "TRUNCATE"): False,
        }


def atende(executable: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(executable), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_an_unrecorded_newer_revision_is_refused_in_one_line(
    database: str, images: dict[str, str]
) -> None:
    """A schema migrated by an image that recorded nothing (or whose record was lost): the older
    image's downgrade says which revision it cannot reach, and changes nothing."""
    env = {"PATH": "/usr/bin:/bin", "ATENDE_DATABASE_URL": database, "ATENDE_LOG_FORMAT": "json"}
    newer = Path(images[f"{REPOSITORY}:v2"]) / "atende"
    older = Path(images[f"{REPOSITORY}:v1"]) / "atende"
    head = schema.own_head()
    for executable, args in (
        (newer, ["upgrade"]),
        (older, ["downgrade", "head"]),
        (newer, ["upgrade"]),
    ):
        done = await asyncio.to_thread(atende, executable, env, "migrate", *args)
        assert done.returncode == 0, done.stderr
    engine = create_async_engine(database, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            forget = f"DELETE FROM {schema.SCRIPTS_TABLE} WHERE revision = :rev"
            await conn.execute(sa.text(forget), {"rev": f"{head}_next"})
    finally:
        await engine.dispose()

    done = await asyncio.to_thread(atende, older, env, "migrate", "downgrade", "head")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert f"{head}_next" in line
    assert "does not ship that revision" in line
    assert (await schema_state(database))[:2] == (f"{head}_next", True)
