"""Upgrading to 0013 re-keys an existing SHA-256 audit chain under ATENDE_SECRET_KEY: it
verifies afterwards, a break that was already there is kept in the log rather than laundered,
and with rows to re-key and no key the upgrade refuses and changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy import text

from services.core import schema
from services.core.audit import service as audit
from services.core.audit.keys import process_keyring
from services.core.config import InsecureSecretKey, get_settings
from services.core.db import SessionMaker, create_engine, create_sessionmaker, transaction
from services.core.models import AuditEvent

from .test_migrations import fresh_url  # noqa: F401 - the fixture

KEY = "migration-test-platform-key-0123456789"


@pytest.fixture
def platform_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The process's ATENDE_SECRET_KEY, as the chart's migration hook has it."""
    monkeypatch.setenv("ATENDE_ENVIRONMENT", "test")
    monkeypatch.setenv("ATENDE_SECRET_KEY", KEY)
    get_settings.cache_clear()
    yield KEY
    get_settings.cache_clear()


@pytest.fixture
def no_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Production settings without ATENDE_SECRET_KEY."""
    monkeypatch.setenv("ATENDE_ENVIRONMENT", "production")
    monkeypatch.delenv("ATENDE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest_asyncio.fixture(loop_scope="session")
async def at_0012(fresh_url: str) -> AsyncIterator[SessionMaker]:  # noqa: F811
    await asyncio.to_thread(schema.upgrade, fresh_url, "0012")
    engine = create_engine(fresh_url, pool_size=1)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _old_chain(sessionmaker: SessionMaker, count: int) -> list[int]:
    """Rows as releases before 0013 wrote them: plain SHA-256, no key."""
    prev: str | None = None
    start = datetime(2026, 11, 30, 12, tzinfo=UTC)
    ids = []
    async with transaction(sessionmaker) as session:
        for n in range(count):
            at, details = start + timedelta(minutes=n), {"reason": f"reason {n}"}
            row = AuditEvent(at=at, actor="cli:ana", action="tenant.pause", details=details)
            digest = hashlib.sha256(audit.chained(prev, row).encode()).hexdigest()
            ids.append(
                await session.scalar(
                    text(
                        "INSERT INTO audit_events (at, actor, action, tenant_id, details,"
                        " prev_hash, hash) VALUES (:at, 'cli:ana', 'tenant.pause', NULL,"
                        " CAST(:details AS jsonb), :prev_hash, :hash) RETURNING id"
                    ),
                    {"at": at, "details": json.dumps(details), "prev_hash": prev, "hash": digest},
                )
            )
            prev = digest
    return ids


async def _tamper(sessionmaker: SessionMaker, row_id: int) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(
            text('UPDATE audit_events SET details = \'{"reason": "nothing"}\' WHERE id = :i'),
            {"i": row_id},
        )


async def _last(sessionmaker: SessionMaker) -> tuple[str, dict[str, object]]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text("SELECT action, details FROM audit_events ORDER BY id DESC LIMIT 1")
            )
        ).one()
    return row.action, row.details


async def test_an_existing_sha256_chain_is_rekeyed_and_verifies(
    fresh_url: str,  # noqa: F811
    at_0012: SessionMaker,
    platform_key: str,
) -> None:
    await _old_chain(at_0012, 3)
    await asyncio.to_thread(schema.upgrade, fresh_url, "head")

    async with at_0012() as session:
        check = await audit.verify(session)
        key_ids = set(await session.scalars(text("SELECT key_id FROM audit_events")))
    assert (check.ok, check.rows, check.unverifiable) == (True, 4, 0)
    assert key_ids == {process_keyring().current_id}
    assert await _last(at_0012) == (
        "audit.chain_rekeyed",
        {"rows": 3, "sha256_chain_broken_at": None},
    )

    # Back to 0012: plain SHA-256 again, as the older release verifies it.
    await asyncio.to_thread(schema.downgrade, fresh_url, "0012")
    async with at_0012() as session:
        rows = (await session.execute(text("SELECT * FROM audit_events ORDER BY id"))).all()
    prev = None
    for row in rows:
        digest = hashlib.sha256(audit.chained(prev, row).encode()).hexdigest()
        assert (row.prev_hash, row.hash) == (prev, digest)
        prev = row.hash
    assert await _last(at_0012) == ("audit.chain_unkeyed", {"rows": 4, "links_broken_at": None})


async def test_a_chain_already_broken_is_rekeyed_with_the_break_on_record(
    fresh_url: str,  # noqa: F811
    at_0012: SessionMaker,
    platform_key: str,
    capfd: pytest.CaptureFixture[str],
) -> None:
    ids = await _old_chain(at_0012, 4)
    await _tamper(at_0012, ids[1])
    await asyncio.to_thread(schema.upgrade, fresh_url, "head")

    assert await _last(at_0012) == (
        "audit.chain_rekeyed",
        {"rows": 4, "sha256_chain_broken_at": ids[1]},
    )
    assert f"the SHA-256 chain was already broken at event {ids[1]}" in capfd.readouterr().err
    async with at_0012() as session:
        assert (await audit.verify(session)).ok  # the record of the break is itself keyed


async def test_rows_and_no_key_refuse_the_upgrade_and_change_nothing(
    fresh_url: str,  # noqa: F811
    at_0012: SessionMaker,
    no_key: None,
) -> None:
    await _old_chain(at_0012, 2)
    with pytest.raises(InsecureSecretKey, match="re-keys the audit log's existing rows under "):
        await asyncio.to_thread(schema.upgrade, fresh_url, "head")
    assert "0012" in await asyncio.to_thread(schema.current, fresh_url)
    async with at_0012() as session:
        columns = set(
            await session.scalars(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = 'audit_events'"
                )
            )
        )
    assert "key_id" not in columns


async def test_an_empty_audit_log_needs_no_key(
    fresh_url: str,  # noqa: F811
    at_0012: SessionMaker,
    no_key: None,
) -> None:
    await asyncio.to_thread(schema.upgrade, fresh_url, "head")
    assert "(head)" in await asyncio.to_thread(schema.current, fresh_url)
