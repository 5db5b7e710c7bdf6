"""Fair sharing: a quiet tenant's turn latency while another tenant floods its webhook at 20×
the quiet one's rate (and far past its own ``perTenantPerMinute``), against the same quiet
traffic alone, side by side on the same machine.

Each run starts its own api and worker (a few job slots, a model taking a fixed time, so slots
are scarce); the quiet tenant's new customers post at a steady rate, the flood's from many
customers at 20× that. What is measured is the turn's wait: the webhook's answer (the message
stored and queued) → the Whaticket stand-in receiving the quiet customer's reply, so the api's
own queueing under a loaded machine is left out. ``python -m bench --only fairness`` runs it
alone and rewrites only its section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.drain import forget_messages
from bench.harness import SECRET, delivered, process, tenants_yaml, wait_http
from bench.latency import _overheads, _summary
from bench.sections import record_section
from services.cli.admin import apply_file
from services.cli.embedded import free_port
from services.core.config import Settings
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

QUIET_PER_S = 2
FLOOD_FACTOR = 20
SECONDS = 15
MAX_JOBS = 8
MODEL_SECONDS = 0.2
FLOOD_PER_MINUTE = 120  # the flooding tenant's spec.rateLimits.perTenantPerMinute
TITLE = "## Fair sharing"


def manifests(whaticket_url: str) -> str:
    quiet = tenants_yaml(["quiet"], whaticket_url)
    flood = tenants_yaml(["flood"], whaticket_url).replace(
        "perContactPerMinute: 600, perTenantPerMinute: 100000",
        f"perContactPerMinute: 10, perTenantPerMinute: {FLOOD_PER_MINUTE}",
    )
    return quiet + "---" + flood


def _payload(message_id: str, phone: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"{phone}@s.whatsapp.net", "fromMe": False, "id": message_id},
        "pushName": "Cliente",
        "message": {"conversation": "Qual o prazo de entrega?"},
    }


async def _drive(client: httpx.AsyncClient, tenant: str, rate: int, run: str) -> dict[str, float]:
    """One new customer every 1/rate s for SECONDS; when each webhook was answered."""
    posted: dict[str, float] = {}
    prefix = {"quiet": "5531", "flood": "5541"}[tenant]

    async def post(i: int) -> None:
        phone = f"{prefix}9{run}{i:07d}"
        hook = f"/hooks/whaticket/{tenant}/main/{SECRET}"
        response = await client.post(hook, json=_payload(f"FAIR-{tenant}-{run}-{i}", phone))
        response.raise_for_status()
        posted[phone] = time.time()  # stored and queued: the turn's wait starts here

    start = time.monotonic()
    tasks = []
    for i in range(rate * SECONDS):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(post(i)))
    await asyncio.gather(*tasks)
    return posted


async def _traffic(base_url: str, run: str, flood: bool) -> dict[str, float]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        drivers = [_drive(client, "quiet", QUIET_PER_S, run)]
        if flood:
            drivers.append(_drive(client, "flood", QUIET_PER_S * FLOOD_FACTOR, run))
        return (await asyncio.gather(*drivers))[0]


@contextmanager
def _atende(env: dict[str, str], tmp: Path, name: str) -> Iterator[str]:
    port = free_port()
    atende = [sys.executable, "-m", "services.cli"]
    env = env | {"ATENDE_WORKER_MAX_JOBS": str(MAX_JOBS), "ATENDE_WORKER_METRICS_PORT": "0"}
    with (
        process([*atende, "api", "--port", str(port)], env, tmp / f"fair-{name}-api.log"),
        process([*atende, "worker"], env, tmp / f"fair-{name}-worker.log"),
    ):
        wait_http(f"http://127.0.0.1:{port}/readyz")
        time.sleep(2)  # the worker's start-up
        yield f"http://127.0.0.1:{port}"


def bench_fairness(
    env: dict[str, str], settings: Settings, whaticket: WhaticketStandIn, tmp: Path
) -> dict[str, Any]:
    asyncio.run(forget_messages(settings))  # what earlier steps ingested but never answered
    asyncio.run(apply_file(settings, manifests(whaticket.url)))
    results: dict[str, Any] = {
        "quiet_per_s": QUIET_PER_S,
        "flood_per_s": QUIET_PER_S * FLOOD_FACTOR,
        "seconds": SECONDS,
        "max_jobs": MAX_JOBS,
        "model_s": MODEL_SECONDS,
        "flood_per_minute": FLOOD_PER_MINUTE,
    }
    with GeminiStandin(delay=MODEL_SECONDS) as gemini:
        env = env | {"ATENDE_GEMINI_BASE_URL": gemini.base_url, "ATENDE_GEMINI_API_KEY": "test-key"}
        for run, (name, flood) in enumerate((("alone", False), ("flood", True))):
            sent_from = delivered(whaticket)  # earlier runs wrote to the same numbers
            with _atende(env, tmp, name) as base_url:
                posted = asyncio.run(_traffic(base_url, str(run), flood))
                samples = _overheads(whaticket, posted, time.monotonic() + 120, sent_from)
                results[name] = _summary(samples, len(posted))
    results["ratio_p50"] = round(results["flood"]["p50_ms"] / results["alone"]["p50_ms"], 2)
    results["ratio_p99"] = round(results["flood"]["p99_ms"] / results["alone"]["p99_ms"], 2)
    return results


def section(r: dict[str, Any]) -> list[str]:
    rows = [
        f"| {label} | {r[name]['answered']}/{r[name]['messages']} | {r[name]['p50_ms']} |"
        f" {r[name]['p99_ms']} |"
        for name, label in (("alone", "alone"), ("flood", f"with a {FLOOD_FACTOR}× flood"))
    ]
    return [
        TITLE,
        "",
        f"A quiet tenant's new customers post {r['quiet_per_s']} messages a second for"
        f" {r['seconds']} s; in the second run another tenant (`perTenantPerMinute:"
        f" {r['flood_per_minute']}`) floods its webhook at {r['flood_per_s']} a second, each"
        f" from a new customer. One worker with {r['max_jobs']} job slots, the model answering in"
        f" {r['model_s']} s. Latency is from the webhook's answer to a quiet customer (stored and"
        " queued) to its reply reaching the Whaticket stand-in; both runs one after the other on"
        " the same machine.",
        "",
        "| quiet tenant | answered | p50 ms | p99 ms |",
        "|---|---|---|---|",
        *rows,
        "",
        f"**With the flood / alone: {r['ratio_p50']}× at p50, {r['ratio_p99']}× at p99.** The"
        " flood's excess waits in the queue for its ingest slots (`atende_ingest_deferred_total`)"
        " instead of in front of the quiet tenant's jobs.",
        "",
    ]


def record(result: dict[str, Any], docs: Path) -> None:
    """Rewrite only this section of benchmarks.md (and its key of benchmarks.json)."""
    record_section(TITLE, section(result), "fairness", result, docs)
