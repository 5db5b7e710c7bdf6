"""End-to-end overhead: from the webhook's POST to the Whaticket stand-in receiving the reply,
at a steady arrival rate, with a model that answers at once (so what is measured is the stack's
own cost: ingest, queue, turn, send). Atende's api + worker against the reference stack's
gunicorn webhook + RQ worker, one after the other on the same machine."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.harness import SECRET, WORKER_MAX_JOBS, process, wait_http
from bench.reference.run import rq_worker, webhook_server
from services.cli.embedded import free_port
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

RATE_PER_S = 10
SECONDS = 10
HOOK = f"/hooks/whaticket/drain/main/{SECRET}"


def _payload(message_id: str, phone: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"{phone}@s.whatsapp.net", "fromMe": False, "id": message_id},
        "pushName": "Cliente",
        "message": {"conversation": "Qual o prazo de entrega?"},
    }


async def _drive(base_url: str, prefix: str) -> dict[str, float]:
    """POST one message a tick from a new customer each; the POST time per phone."""
    posted: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        start = time.monotonic()
        for i in range(RATE_PER_S * SECONDS):
            await asyncio.sleep(max(0.0, start + i / RATE_PER_S - time.monotonic()))
            phone = f"{prefix}9{i:08d}"  # a full Brazilian mobile number
            posted[phone] = time.time()
            response = await client.post(HOOK, json=_payload(f"E2E-{prefix}-{i}", phone))
            response.raise_for_status()
    return posted


def _overheads(
    whaticket: WhaticketStandIn, posted: dict[str, float], deadline: float
) -> list[float]:
    while time.monotonic() < deadline:
        arrived = {d["number"]: d["at"] for d in whaticket.sent() if d["number"] in posted}
        if len(arrived) == len(posted):
            break
        time.sleep(0.05)
    return sorted((arrived[p] - posted[p]) * 1000 for p in posted if p in arrived)


def _summary(samples: list[float], expected: int) -> dict[str, Any]:
    if not samples:
        raise RuntimeError("no reply arrived: see the process logs in the bench's temp folder")
    quantiles = statistics.quantiles(samples, n=100) if len(samples) > 1 else samples * 99
    return {
        "messages": expected,
        "answered": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(quantiles[98], 1),
    }


@contextmanager
def _atende(env: dict[str, str], tmp: Path) -> Iterator[str]:
    port = free_port()
    atende = [sys.executable, "-m", "services.cli"]
    env = env | {"ATENDE_WORKER_MAX_JOBS": str(WORKER_MAX_JOBS), "ATENDE_WORKER_METRICS_PORT": "0"}
    with (
        process([*atende, "api", "--port", str(port)], env, tmp / "e2e-api.log"),
        process([*atende, "worker"], env, tmp / "e2e-worker.log"),
    ):
        wait_http(f"http://127.0.0.1:{port}/readyz")
        time.sleep(2)  # the worker's start-up
        yield f"http://127.0.0.1:{port}"


@contextmanager
def _reference(env: dict[str, str], tmp: Path) -> Iterator[str]:
    with (
        webhook_server(env, free_port(), tmp / "e2e-reference.log") as url,
        rq_worker(env, tmp / "e2e-rq.log"),
    ):
        time.sleep(2)
        yield url


def bench_latency(
    env: dict[str, str], reference_env: dict[str, str], whaticket: WhaticketStandIn, tmp: Path
) -> dict[str, Any]:
    results: dict[str, Any] = {"rate_per_s": RATE_PER_S, "seconds": SECONDS}
    stacks: dict[str, tuple[str, AbstractContextManager[str]]] = {}
    with GeminiStandin(delay=0.0) as gemini:
        stacks = {
            "real": ("5531", _atende(env | {"ATENDE_GEMINI_BASE_URL": gemini.base_url,
                                             "ATENDE_GEMINI_API_KEY": "test-key"}, tmp)),
            "reference": ("5541", _reference(reference_env | {"REF_GEMINI_BASE_URL":
                                                                gemini.base_url}, tmp)),
        }  # fmt: skip
        for name, (prefix, stack) in stacks.items():
            with ExitStack() as running:
                base_url = running.enter_context(stack)
                posted = asyncio.run(_drive(base_url, prefix))
                samples = _overheads(whaticket, posted, time.monotonic() + 60)
            results[name] = _summary(samples, len(posted))
    results["ratio_p50"] = round(results["reference"]["p50_ms"] / results["real"]["p50_ms"], 2)
    results["ratio_p99"] = round(results["reference"]["p99_ms"] / results["real"]["p99_ms"], 2)
    return results
