"""The worker runs the retention job on its own: an arq cron job every five minutes, which arq
enqueues under one job id per tick, so several workers run each tick once."""

from __future__ import annotations

from pydantic import SecretStr

from services.core.config import Settings
from services.worker.main import create_worker
from services.worker.tasks.retention import enforce_retention


async def test_the_retention_job_is_a_cron_every_five_minutes(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, secret_key=SecretStr("retention-cron-secret-0001"))
    worker = create_worker(settings)
    [job] = [c for c in worker.cron_jobs if c.name == "retention"]
    assert job.coroutine is enforce_retention
    assert job.minute == set(range(0, 60, 5))
    assert job.unique is True
    assert worker.functions["retention"] is job
