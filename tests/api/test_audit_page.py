"""The panel's audit page says what ``atende audit verify`` says: intact, rows under a retired
key not checked, or where the chain is broken."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import text

from services.core.audit import service as audit
from services.core.audit.keys import AuditKeyring
from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from tests.api.webhook_app import make_settings, running_app, shop_and_other_with_users

PASSWORD = "audit-page-password-0001"
ROOT = "root@atende.test"
RETIRED = AuditKeyring(["a-platform-key-since-dropped-0123456789"])


async def test_the_audit_page_shows_intact_not_checked_and_broken(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    await redis_client.flushall()
    settings = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    async with transaction(clean_db) as session:  # written before the current key existed
        await audit.record(
            session, actor="cli:ana", action="tenant.pause", tenant_id=None,
            details={"reason": "old"}, keyring=RETIRED,
        )  # fmt: skip
    await shop_and_other_with_users(settings, clean_db, {"root": (ROOT, Role.PLATFORM_ADMIN, None)},
                                    PASSWORD)  # fmt: skip
    async with running_app(settings) as api:
        api.client.headers["Accept-Language"] = "en"  # the chain's line as the CLI says it
        signed = await api.client.post("/panel/login", data={"email": ROOT, "password": PASSWORD})
        cookies = {"Cookie": f"atende_access={signed.cookies['atende_access']}"}

        page = (await api.client.get("/panel/audit", headers=cookies)).text
        async with clean_db() as session:
            rows = int(await session.scalar(text("SELECT count(*) FROM audit_events")) or 0)
        assert '<span class="badge warn">' in page
        assert (
            f"hash chain intact · {rows - 1} events checked; 1 under a retired key not checked "
            f"(key {RETIRED.current_id} is no longer in ATENDE_SECRET_KEY or "
            "ATENDE_PREVIOUS_SECRET_KEYS)"
        ) in page

        async with transaction(clean_db) as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(text("DELETE FROM audit_events WHERE id = 1"))
        page = (await api.client.get("/panel/audit", headers=cookies)).text
        assert (
            '<span class="badge bad">chain broken at event 2: it does not follow the event '
            "before it</span>"
        ) in page

        async with transaction(clean_db) as session:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
            await session.execute(text("DELETE FROM audit_events"))
        await api.client.post("/panel/login", data={"email": ROOT, "password": PASSWORD})
        page = (await api.client.get("/panel/audit", headers=cookies)).text
        assert '<span class="badge good">hash chain intact · 1 event checked</span>' in page
