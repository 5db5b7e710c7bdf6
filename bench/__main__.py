"""`make bench`: ingest and worker throughput, each against a baseline measured in the same run.

* ingest: the real webhook (auth, normalize, durable insert, enqueue) vs a bare FastAPI handler
  that only parses the JSON, both one uvicorn process, driven by wrk over loopback;
* drain: turns per second of one worker process with the Gemini stand-in answering after 1 s and
  after 0 s, against the ideal set by its concurrency (``max_jobs`` turns per LLM latency).

Results go to docs/benchmarks.json and docs/benchmarks.md. Bounded: about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from services.cli.admin import apply_file
from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from services.core import jobs, schema
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.inbound.baileys import NormalizedMessage
from services.core.inbound.service import ingest
from services.core.models import Turn
from services.core.redis import create_redis
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SECRET = "bench-webhook-secret-0123456789abcdef"
TOKEN = "bench-whaticket-token"
WORKER_MAX_JOBS = 256


def tenant_yaml(name: str, whaticket_url: str | None) -> str:
    url = f"url: {whaticket_url}\n    " if whaticket_url else ""
    token_ref = "\n        apiTokenSecretRef: {name: bench, key: token}" if whaticket_url else ""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: bench}}
stringData: {{webhook-secret: {SECRET}, token: {TOKEN}}}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {name}}}
spec:
  displayName: Bench
  whaticket:
    {url}variant: saas
    connections:
      - name: main{token_ref}
  webhook: {{secretRefs: [{{name: bench, key: webhook-secret}}]}}
  persona: {{systemPrompt: "Você é um assistente de testes."}}
  conversation: {{debounceSeconds: 0}}
"""


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Any:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    script = Path(__file__).with_name("webhook.lua")
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = round(float(value) * _UNITS[unit], 3)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def bench_ingest(env: dict[str, str], tmp: Path, seconds: int, rounds: int) -> dict[str, Any]:
    real_port, bare_port = free_port(), free_port()
    atende = [sys.executable, "-m", "services.cli"]
    real_url = f"http://127.0.0.1:{real_port}/hooks/whaticket/bench/main/{SECRET}"
    bare_url = f"http://127.0.0.1:{bare_port}/hooks/whaticket/bench/main/{SECRET}"
    runs: dict[str, list[dict[str, float]]] = {"real": [], "bare": []}
    with (
        process([*atende, "api", "--port", str(real_port)], env, tmp / "api.log"),
        process(
            [sys.executable, "-m", "bench.bare", "--port", str(bare_port)], env, tmp / "bare.log"
        ),
    ):
        wait_http(f"http://127.0.0.1:{real_port}/readyz")
        wait_http(f"http://127.0.0.1:{bare_port}/docs")
        wrk(real_url, 2, 16)  # warm-up: connection pools, tenant cache
        wrk(bare_url, 2, 16)
        for _ in range(rounds):  # interleaved, so drift on the machine hits both
            runs["bare"].append(wrk(bare_url, seconds, 32))
            runs["real"].append(wrk(real_url, seconds, 32))
    best = {k: max(v, key=lambda r: r["rps"]) for k, v in runs.items()}
    return {
        "connections": 32,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "real": best["real"],
        "bare": best["bare"],
        "ratio": round(best["real"]["rps"] / best["bare"]["rps"], 3),
        "all_runs": runs,
    }


async def _seed(settings: Settings, count: int, run: str) -> None:
    engine = create_engine(settings.database_url)
    sessionmaker = create_sessionmaker(engine)
    redis = create_redis(settings.redis_url)
    async with sessionmaker() as session:
        tenant_id = await session.scalar(text("SELECT id FROM tenants WHERE slug = 'drain'"))
    ids = []
    for i in range(count):
        message = NormalizedMessage(
            provider_msg_id=f"{run}-{i}",
            kind="text",
            text="Qual o prazo de entrega?",
            phone=str(5521900000000 + i),
            lid=None,
            push_name=None,
            sent_at=None,
        )
        async with transaction(sessionmaker) as session:
            got = await ingest(
                session,
                tenant_id=tenant_id,
                connection="main",
                message=message,
                payload={},
                correlation_id=f"{run}{i}"[:32],
            )
        ids.append(got.inbound_id)
    for inbound_id in ids:
        assert inbound_id is not None
        await jobs.enqueue_inbound(redis, inbound_id)
    await redis.aclose()
    await engine.dispose()


async def _forget_ingested(settings: Settings) -> None:
    """The ingest run leaves thousands of queued turns; the drain run must not see them."""
    engine = create_engine(settings.database_url, pool_size=1)
    async with transaction(create_sessionmaker(engine)) as session:
        await session.execute(
            text(
                "TRUNCATE inbound_messages, outbound_messages, dead_letters, turns,"
                " conversations, contacts CASCADE"
            )
        )
    await engine.dispose()
    redis = create_redis(settings.redis_url)
    await redis.flushdb()
    await redis.aclose()


async def _answered(settings: Settings, since: datetime) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    async with create_sessionmaker(engine)() as session:
        count = await session.scalar(
            select(func.count()).where(Turn.status == "answered", Turn.created_at >= since)
        )
    await engine.dispose()
    return int(count or 0)


def bench_drain(
    env: dict[str, str],
    settings: Settings,
    whaticket: WhaticketStandIn,
    tmp: Path,
    latency: float,
    count: int,
) -> dict[str, Any]:
    with GeminiStandin(delay=latency) as gemini:
        env = env | {
            "ATENDE_GEMINI_API_KEY": "test-key",
            "ATENDE_GEMINI_BASE_URL": gemini.base_url,
            "ATENDE_WORKER_MAX_JOBS": str(WORKER_MAX_JOBS),
            "ATENDE_WORKER_METRICS_PORT": "0",
        }
        since = datetime.now(UTC)
        delivered_before = len(whaticket.sent())
        asyncio.run(_seed(settings, count, f"drain{latency}-{time.time_ns()}"))
        log = tmp / f"worker-{latency}.log"
        with process([sys.executable, "-m", "services.cli", "worker"], env, log):
            deadline = time.monotonic() + 120
            while gemini.request_count == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            started = time.monotonic()
            # Watching the stand-in's deliveries costs the machine nothing; polling Postgres
            # from here would take CPU from the worker being measured.
            while len(whaticket.sent()) < delivered_before + count:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            elapsed = time.monotonic() - started
        answered = asyncio.run(_answered(settings, since))
    ideal = WORKER_MAX_JOBS / latency if latency else None
    rate = answered / elapsed
    return {
        "llm_latency_s": latency,
        "turns": count,
        "answered": answered,
        "seconds": round(elapsed, 2),
        "turns_per_s": round(rate, 1),
        "concurrency_little": round(rate * latency, 1) if latency else None,
        "ideal_turns_per_s": ideal,
        "ratio_to_ideal": round(rate / ideal, 3) if ideal else None,
    }


def write_report(results: dict[str, Any]) -> None:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    ingest_r = results["ingest"]
    lines = [
        "# Benchmarks",
        "",
        f"Recorded {results['recorded_at']} on {results['machine']} by `make bench`"
        " (`python -m bench`); raw numbers in `benchmarks.json`. Every figure is a ratio to a"
        " baseline measured in the same run, on the same machine, over loopback.",
        "",
        "## Webhook ingest",
        "",
        "The real endpoint (path-secret auth, Baileys normalization, contact + conversation"
        " upserts and the message insert committed in Postgres, then the arq enqueue) against a"
        " bare FastAPI handler that only parses the same JSON. One uvicorn process each,"
        f" `wrk -t1 -c{ingest_r['connections']} -d{ingest_r['seconds_per_run']}s`, distinct"
        f" messages from 5000 customers, {ingest_r['rounds']} interleaved rounds, best of each.",
        "",
        "| endpoint | requests/s | p50 ms | p99 ms | non-2xx |",
        "|---|---|---|---|---|",
    ]
    for name in ("bare", "real"):
        r = ingest_r[name]
        lines.append(
            f"| {name} | {r['rps']:.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['non_2xx']:.0f} |"
        )
    lines += [
        "",
        f"**Ratio real / bare: {ingest_r['ratio']}** (aim: at least 0.5).",
        "",
        "## Worker drain",
        "",
        f"One `atende worker` process (`ATENDE_WORKER_MAX_JOBS={WORKER_MAX_JOBS}`), a backlog of"
        " turns from distinct customers, the Gemini stand-in answering after a fixed delay and"
        " the Whaticket stand-in (saas) receiving the replies. Timed from the first model call"
        " to the last answered turn.",
        "",
        "| LLM latency | turns | seconds | turns/s | concurrency (rate × latency) | vs ideal |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["drain"]:
        lines.append(
            f"| {r['llm_latency_s']} s | {r['answered']}/{r['turns']} | {r['seconds']} |"
            f" {r['turns_per_s']} | {r['concurrency_little'] or '—'} |"
            f" {r['ratio_to_ideal'] or '—'} |"
        )
    lines += [
        "",
        "The ideal at 1 s is `max_jobs / latency`; the 0 s row is the pipeline's own cost per"
        " turn. Aim: one worker sustains at least 200 concurrent turns with a 1 s LLM.",
        "",
        "Where the time goes and what is left to do: [performance.md](performance.md).",
        "",
    ]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--turns", type=int, default=1000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: `make bench` installs it (Debian package wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="atende-bench-"))
    postgres, redis = EmbeddedPostgres(tmp / "postgres"), EmbeddedRedis(tmp / "redis")
    try:
        env = dict(os.environ) | {
            "ATENDE_DATABASE_URL": postgres.start(),
            "ATENDE_REDIS_URL": redis.start(),
            "ATENDE_DATA_DIR": str(tmp),
            "ATENDE_LOG_FORMAT": "json",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        settings = Settings(
            database_url=env["ATENDE_DATABASE_URL"], redis_url=env["ATENDE_REDIS_URL"]
        )
        schema.upgrade(settings.database_url)
        with WhaticketStandIn("saas", [TOKEN]) as whaticket:
            manifests = tenant_yaml("bench", None) + "---" + tenant_yaml("drain", whaticket.url)
            asyncio.run(apply_file(settings, manifests))
            print("ingest …", flush=True)
            ingest_result = bench_ingest(env, tmp, args.seconds, args.rounds)
            print(json.dumps({k: ingest_result[k] for k in ("real", "bare", "ratio")}), flush=True)
            asyncio.run(_forget_ingested(settings))
            drain = []
            for latency in (1.0, 0.0):
                print(f"drain at {latency} s …", flush=True)
                drain.append(bench_drain(env, settings, whaticket, tmp, latency, args.turns))
                print(json.dumps(drain[-1]), flush=True)
        machine = f"{os.cpu_count()} cores, {platform.machine()}"
        machine += f", Python {platform.python_version()}"
        results = {
            "recorded_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine,
            "ingest": ingest_result,
            "drain": drain,
        }
        write_report(results)
        print(f"wrote {DOCS / 'benchmarks.md'}")
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
