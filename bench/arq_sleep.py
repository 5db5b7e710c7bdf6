"""The ceiling arq itself puts on one worker: a job that only sleeps 1 s, the worker started
with Atende's ``max_jobs``, ``poll_delay`` and ``keep_result`` on the same Redis, over a backlog
enqueued beforehand. Jobs per second from the first job's start to the last job's end.

``python -m bench.arq_sleep`` runs the worker (``BENCH_REDIS_URL``); ``bench_arq_sleep`` enqueues
the backlog, starts it as a process of its own and times it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, cast

import redis
import uvloop
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from bench.harness import WORKER_MAX_JOBS, process

QUEUE = "bench:sleep:queue"
FIRST, LAST, DONE = "bench:sleep:first", "bench:sleep:last", "bench:sleep:done"
SLEEP_SECONDS = 1.0
POLL_DELAY = 0.1  # services/worker/main.py's
_started: list[bool] = []


async def sleep_job(ctx: dict[str, Any]) -> None:
    redis = ctx["redis"]
    if not _started:  # one write for the whole run, not one a job
        _started.append(True)
        await redis.set(FIRST, repr(time.time()))
    await asyncio.sleep(SLEEP_SECONDS)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(LAST, repr(time.time()))
        pipe.incr(DONE)
        await pipe.execute()


def run_worker(redis_url: str) -> None:
    asyncio.set_event_loop(uvloop.new_event_loop())  # as the Atende worker runs
    Worker(
        functions=[sleep_job],
        queue_name=QUEUE,
        redis_settings=RedisSettings.from_dsn(redis_url),
        max_jobs=WORKER_MAX_JOBS,
        keep_result=0,
        poll_delay=POLL_DELAY,
        job_timeout=60,
        handle_signals=True,
    ).run()


async def _enqueue(redis_url: str, count: int) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE)
    await pool.delete(FIRST, LAST, DONE, QUEUE)
    for _ in range(count):
        await pool.enqueue_job("sleep_job")
    await pool.aclose()


def _progress(client: redis.Redis) -> tuple[int, float | None, float | None]:
    done, first, last = cast(list[bytes | None], client.mget(DONE, FIRST, LAST))
    return int(done or 0), float(first) if first else None, float(last) if last else None


def bench_arq_sleep(redis_url: str, tmp: Path, count: int) -> dict[str, Any]:
    asyncio.run(_enqueue(redis_url, count))
    env = dict(os.environ) | {"BENCH_REDIS_URL": redis_url}
    args = [sys.executable, "-m", "bench.arq_sleep"]
    client = redis.Redis.from_url(redis_url)
    with process(args, env, tmp / "arq-sleep.log"):
        deadline = time.monotonic() + 120
        done, first, last = 0, None, None
        while done < count and time.monotonic() < deadline:
            time.sleep(0.1)
            done, first, last = _progress(client)
    client.delete(FIRST, LAST, DONE, QUEUE)
    client.close()
    seconds = (last - first) if first and last else 0.0
    return {
        "job_seconds": SLEEP_SECONDS,
        "max_jobs": WORKER_MAX_JOBS,
        "jobs": count,
        "done": done,
        "seconds": round(seconds, 2),
        "jobs_per_s": round(done / seconds, 1) if seconds else 0.0,
    }


if __name__ == "__main__":
    run_worker(os.environ["BENCH_REDIS_URL"])
