"""Worker drain: turns per second of one worker process over a backlog, the Gemini stand-in
answering after a fixed delay; the same backlog drained by the reference stack's RQ worker; and
what the answered conversations leave in Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
from sqlalchemy import func, select, text

from bench.harness import WORKER_MAX_JOBS, delivered, deliveries_since, model_calls, process
from bench.invariants import check_run
from bench.procstat import Sampler, cpu_seconds, peak_rss_mb
from bench.reference.run import clear_queue, enqueue_backlog, rq_worker
from services.core import jobs
from services.core.channels.baileys import NormalizedMessage
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.inbound.service import ingest
from services.core.models import Turn
from services.core.redis import create_redis
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn


async def seed(settings: Settings, count: int, run: str, tenants: list[str]) -> None:
    """``count`` stored and queued messages from distinct customers, round-robin over
    ``tenants``, as the webhook would leave them."""
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    queue = create_redis(settings.redis_url)
    async with sessionmaker() as session:
        rows = await session.execute(
            text("SELECT slug, id FROM tenants WHERE slug = ANY(:slugs)"), {"slugs": tenants}
        )
        tenant_ids: dict[str, int] = dict(rows.tuples().all())
    ids = []
    for i in range(count):
        phone, message_id = str(5521900000000 + i), f"{run}-{i}"
        message = NormalizedMessage(
            provider_msg_id=message_id,
            kind="text",
            text="Qual o prazo de entrega?",
            phone=phone,
            lid=None,
            push_name="Cliente",
            sent_at=None,
        )
        payload = {
            "key": {"remoteJid": f"{phone}@s.whatsapp.net", "fromMe": False, "id": message_id},
            "pushName": "Cliente",
            "message": {"conversation": message.text},
        }
        async with transaction(sessionmaker) as session:
            got = await ingest(
                session,
                tenant_id=tenant_ids[tenants[i % len(tenants)]],
                connection="main",
                message=message,
                payload=payload,
                correlation_id=f"{run}{i}"[-32:],
            )
        ids.append(got.inbound_id)
    for inbound_id in ids:
        assert inbound_id is not None
        await jobs.enqueue_inbound(queue, inbound_id)
    await queue.aclose()
    await engine.dispose()


async def forget_messages(settings: Settings) -> None:
    """Each run starts from an empty queue and no conversations: earlier runs must not count."""
    engine = create_engine(settings.database_url, pool_size=1)
    async with transaction(create_sessionmaker(engine)) as session:
        await session.execute(
            text(
                "TRUNCATE inbound_messages, outbound_messages, dead_letters, turns,"
                " conversations, contacts CASCADE"
            )
        )
    await engine.dispose()
    client = create_redis(settings.redis_url)
    await client.flushdb()
    await client.aclose()


async def _answered(settings: Settings, since: datetime) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    async with create_sessionmaker(engine)() as session:
        count = await session.scalar(
            select(func.count()).where(Turn.status == "answered", Turn.created_at >= since)
        )
    await engine.dispose()
    return int(count or 0)


def _redis_usage(url: str) -> tuple[int, int]:
    client = redis.Redis.from_url(url)
    try:
        memory = cast(dict[str, Any], client.info("memory"))
        return int(memory["used_memory"]), int(cast(int, client.dbsize()))
    finally:
        client.close()


def _wait_deliveries(whaticket: WhaticketStandIn, target: int, deadline: float) -> float:
    """Seconds until the stand-in holds ``target`` deliveries (or the deadline). Watching the
    stand-in costs the machine nothing; polling Postgres would take CPU from the worker."""
    started = time.monotonic()
    while delivered(whaticket) < target and time.monotonic() < deadline:
        time.sleep(0.05)
    return time.monotonic() - started


def _watch(
    procs: list[subprocess.Popen[bytes]],
    gemini: GeminiStandin,
    whaticket: WhaticketStandIn,
    sent_from: int,
    count: int,
) -> dict[str, Any]:
    """From the first model call to the last reply: elapsed seconds, the workers' CPU in between
    and their peak RSS, sampled every 20 ms with the number of turns in flight (model calls
    started, replies not yet received)."""
    sampler = Sampler([p.pid for p in procs])
    deadline = time.monotonic() + 240
    cpu_before = sampler.cpu()
    while model_calls(gemini) == 0 and time.monotonic() < deadline:
        cpu_before = sampler.cpu()  # the last reading before the first turn's model call
        time.sleep(0.005)
    own_before = cpu_seconds(os.getpid())  # the stand-ins' threads and this watch
    started = time.time()
    target = sent_from + count
    while time.monotonic() < deadline:
        done = delivered(whaticket)
        if done >= target:
            break
        sampler.sample(model_calls(gemini) - (done - sent_from))
        time.sleep(0.02)
    cpu = sampler.cpu() - cpu_before
    own = cpu_seconds(os.getpid()) - own_before
    peaks = [peak_rss_mb(p.pid) for p in procs]
    ends = [d["at"] for d in deliveries_since(whaticket, sent_from)]
    peak_pid = max(sampler.peak_mb, key=lambda pid: sampler.peak_mb[pid], default=None)
    return {
        "elapsed": (max(ends) - started) if ends else time.time() - started,
        "cpu_s": cpu,
        "standins_cpu_s": own,
        "peak_rss_mb": round(max(sampler.peak_mb.values(), default=0.0), 1),
        "in_flight_at_peak": sampler.in_flight_at_peak.get(peak_pid, 0) if peak_pid else 0,
        "max_in_flight": sampler.max_in_flight,
        "hwm_mb": round(max(peaks, default=0.0), 1),
    }


def bench_drain(
    env: dict[str, str],
    settings: Settings,
    whaticket: WhaticketStandIn,
    tmp: Path,
    latency: float,
    count: int,
    tenants: tuple[str, ...] = ("drain",),
    *,
    fresh: bool = True,
    workers: int = 1,
) -> dict[str, Any]:
    """``fresh`` empties the message tables and the queue first; ``workers`` worker processes
    share the backlog. The run's messages are checked afterwards (bench/invariants.py)."""
    if fresh:
        asyncio.run(forget_messages(settings))
    redis_before = _redis_usage(settings.redis_url)
    with GeminiStandin(delay=latency) as gemini:
        env = env | {
            "ATENDE_GEMINI_API_KEY": "test-key",
            "ATENDE_GEMINI_BASE_URL": gemini.base_url,
            "ATENDE_WORKER_MAX_JOBS": str(WORKER_MAX_JOBS),
            "ATENDE_WORKER_METRICS_PORT": "0",
        }
        since = datetime.now(UTC)
        sent_from = delivered(whaticket)
        run = f"drain{latency}-{len(tenants)}-{workers}-{time.time_ns()}"
        asyncio.run(seed(settings, count, run, list(tenants)))
        with ExitStack() as stack:
            procs = [
                stack.enter_context(
                    process(
                        [sys.executable, "-m", "services.cli", "worker"],
                        env,
                        tmp / f"worker-{run}-{n}.log",
                    )
                )
                for n in range(workers)
            ]
            watched = _watch(procs, gemini, whaticket, sent_from, count)
            redis_after = _redis_usage(settings.redis_url)
        answered = asyncio.run(_answered(settings, since))
    check = check_run(run, settings, whaticket, f"{run}-", count, sent_from)
    elapsed = watched["elapsed"]
    ideal = WORKER_MAX_JOBS * workers / latency if latency else None
    rate = answered / elapsed
    return {
        "llm_latency_s": latency,
        "tenants": len(tenants),
        "workers": workers,
        "turns": count,
        "answered": answered,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(rate, 1),
        "concurrency_little": round(rate * latency, 1) if latency else None,
        "ideal_turns_per_s": ideal,
        "ratio_to_ideal": round(rate / ideal, 3) if ideal else None,
        "cpu_ms_per_turn": round(watched["cpu_s"] * 1000 / answered, 2) if answered else None,
        "standins_cpu_ms_per_turn": round(watched["standins_cpu_s"] * 1000 / count, 2),
        "peak_rss_mb": watched["peak_rss_mb"],
        "in_flight_at_peak": watched["in_flight_at_peak"],
        "max_in_flight": watched["max_in_flight"],
        "hwm_mb": watched["hwm_mb"],
        "redis_bytes_per_conversation": round((redis_after[0] - redis_before[0]) / count),
        "redis_keys_per_conversation": round((redis_after[1] - redis_before[1]) / count, 2),
        "invariants": check,
    }


def bench_reference_drain(
    reference_env: dict[str, str],
    whaticket: WhaticketStandIn,
    tmp: Path,
    latency: float,
    count: int,
    limit_seconds: float,
) -> dict[str, Any]:
    """The seed design: one RQ worker, a forked work-horse per job, one job at a time. Bounded
    by ``limit_seconds``: at a 1 s model it answers about one turn a second."""
    with GeminiStandin(delay=latency) as gemini:
        env = reference_env | {"REF_GEMINI_BASE_URL": gemini.base_url}
        target = delivered(whaticket) + count
        enqueue_backlog(env, count)
        try:
            with rq_worker(env, tmp / f"rq-{latency}.log"):
                deadline = time.monotonic() + 60
                while model_calls(gemini) == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
                elapsed = _wait_deliveries(whaticket, target, time.monotonic() + limit_seconds)
            done = delivered(whaticket) - (target - count)
        finally:
            clear_queue(env)
    return {
        "llm_latency_s": latency,
        "turns": count,
        "answered": done,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(done / elapsed, 1),
    }
