"""The worker's liveness: ``/healthz`` on its metrics port is 503 while its event loop or arq's
job loop is stuck, though the HTTP thread (like /metrics) keeps answering.

A real worker process (``tests/worker/stalling_worker.py``: the product's worker plus a job that
blocks the loop) against the test Postgres, and Redis behind a fault proxy that can slow it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from arq.connections import ArqRedis

from services.core.redis import serialize_job
from tests.e2e.conftest import eventually
from tests.fixtures.servers import FaultProxy, RedisHandle, free_port

from .stalling_worker import STALL

ROOT = Path(__file__).resolve().parents[2]
STALL_SECONDS = 2.0


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def healthz(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=3.0)

    def metrics(self) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=3.0)

    async def wait_for(self, status: int, reason: str, *, within: float) -> httpx.Response:
        async def seen() -> httpx.Response | None:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                response = self.healthz()
            except httpx.HTTPError:
                return None
            ok = response.status_code == status and response.text.startswith(reason)
            return response if ok else None

        return await eventually(seen, within=within, what=f"/healthz {status} {reason}")


def _spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.worker.stalling_worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def redis_proxy(redis_server: RedisHandle) -> Iterator[FaultProxy]:
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        yield proxy


@pytest_asyncio.fixture(loop_scope="session")
async def worker(
    database_url: str, redis_proxy: FaultProxy, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[RunningWorker]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATENDE_")}
    port = free_port()
    env.update(
        ATENDE_ENVIRONMENT="test",
        ATENDE_DATABASE_URL=database_url,
        ATENDE_REDIS_URL=redis_proxy.url("redis", "/0"),
        ATENDE_SECRET_KEY="worker-health-test-secret-key-0123456789",
        ATENDE_DATA_DIR=str(tmp_path / "data"),
        ATENDE_WORKER_METRICS_PORT=str(port),
        ATENDE_WORKER_STALL_SECONDS=str(STALL_SECONDS),
        ATENDE_LOG_FORMAT="json",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "worker.log"
    process = _spawn(env, log)
    running = RunningWorker(process, port, log)
    try:
        await running.wait_for(200, "ok", within=90)
        yield running
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(5)


async def test_a_healthy_worker_answers_200_beside_its_metrics(worker: RunningWorker) -> None:
    response = worker.healthz()
    assert (response.status_code, response.text) == (200, "ok\n")
    metrics = worker.metrics()
    assert metrics.status_code == 200
    assert "python_info" in metrics.text


async def test_a_blocked_event_loop_answers_503_until_it_runs_again(
    worker: RunningWorker, redis_client: aioredis.Redis
) -> None:
    queue = ArqRedis(connection_pool=redis_client.connection_pool, job_serializer=serialize_job)
    await queue.enqueue_job(STALL, 8.0)
    stalled = await worker.wait_for(503, "event loop stalled for ", within=15)
    assert stalled.headers["content-type"].startswith("text/plain")
    # The HTTP thread still serves /metrics: the reason /metrics was no liveness check.
    assert worker.metrics().status_code == 200
    started = time.monotonic()
    await worker.wait_for(200, "ok", within=20)
    assert time.monotonic() - started > 1  # not before the blocking call returned
    assert worker.process.poll() is None


async def test_a_job_loop_stuck_on_redis_answers_503_while_the_event_loop_is_free(
    worker: RunningWorker, redis_proxy: FaultProxy
) -> None:
    """Each Redis round trip takes 3 s (under the client's 5 s timeout, so nothing fails):
    arq's poll iterations stop stamping in time, the event loop's own heartbeat does not."""
    redis_proxy.latency(1.5)
    try:
        stuck = await worker.wait_for(503, "job loop stalled for ", within=20)
        assert "event loop" not in stuck.text
    finally:
        redis_proxy.restore()
    await worker.wait_for(200, "ok", within=20)
