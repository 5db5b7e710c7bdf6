"""The load tester operators point at staging, pointed at a real api on loopback for a moment."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import loadtest
from services.api.main import create_app
from services.cli.admin import apply_file
from services.core.db import SessionMaker
from tests.api.webhook_app import CONNECTION, SECRET, TENANT, TENANT_YAML, make_settings
from tests.fixtures.live_api import serving

from .test_webhook import count


async def test_the_load_tester_drives_the_webhook_and_reports(
    clean_db: SessionMaker,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = make_settings(database_url, redis_url, tmp_path)
    await apply_file(settings, TENANT_YAML)
    async with serving(create_app(settings)) as url:
        argv = [
            "--url", url, "--tenant", TENANT, "--connection", CONNECTION, "--secret", SECRET,
            "--rate", "100", "--duration", "1", "--contacts", "100", "--burst", "2",
        ]  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            await asyncio.to_thread(loadtest.main, argv)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "sent 100 in" in out
    assert "'accepted': 100" in out
    assert await count(clean_db, "inbound_messages") == 100
    assert await count(clean_db, "contacts") == 50
