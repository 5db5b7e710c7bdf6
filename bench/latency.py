"""End-to-end overhead: from the webhook's POST to the Whaticket stand-in receiving the reply,
at a steady arrival rate (open loop: each POST leaves on schedule whether or not the earlier
ones were answered), with a model that answers at once (so what is measured is the stack's own
cost: ingest, queue, turn, send). Atende's api + worker against the reference stack's gunicorn
webhook + RQ worker, one after the other on the same machine.

The reference's one RQ worker answers a few messages a second, so at this rate its backlog
grows for the whole run: it is given ``REFERENCE_WAIT_S`` after the last POST, then stopped and
its queue dropped. A message it never answered counts with the time it had waited by then, so
its percentiles are lower bounds (and the ratio to Atende's too)."""

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

from bench.drain import forget_messages
from bench.harness import (
    SECRET,
    WORKER_MAX_JOBS,
    delivered,
    deliveries_since,
    process,
    wait_http,
)
from bench.invariants import check_run
from bench.reference.run import clear_queue, rq_worker, webhook_server
from services.cli.embedded import free_port
from services.core.config import Settings
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

RATE_PER_S = 50
SECONDS = 10
WARM_UP = 5  # messages before the measured ones: the api's tenant cache, the worker's clients
ATENDE_WAIT_S = 120.0
REFERENCE_WAIT_S = 15.0
HOOK = f"/hooks/whaticket/drain/main/{SECRET}"


def _payload(message_id: str, phone: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"{phone}@s.whatsapp.net", "fromMe": False, "id": message_id},
        "pushName": "Cliente",
        "message": {"conversation": "Qual o prazo de entrega?"},
    }


async def _drive(base_url: str, prefix: str, count: int) -> dict[str, float]:
    """POST one message a tick from a new customer each, on schedule; the POST time per phone."""
    posted: dict[str, float] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def post(i: int) -> None:
            phone = f"{prefix}9{i:08d}"  # a full Brazilian mobile number
            posted[phone] = time.time()
            response = await client.post(HOOK, json=_payload(f"E2E-{prefix}-{i}", phone))
            response.raise_for_status()

        start = time.monotonic()
        tasks = []
        for i in range(count):
            await asyncio.sleep(max(0.0, start + i / RATE_PER_S - time.monotonic()))
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
    return posted


def _overheads(
    whaticket: WhaticketStandIn, posted: dict[str, float], deadline: float, sent_from: int = 0
) -> list[float]:
    """Milliseconds from each POST to its reply reaching the stand-in (replies from index
    ``sent_from`` on), waiting for all of them until ``deadline``."""
    while time.monotonic() < deadline:
        sent = deliveries_since(whaticket, sent_from)
        arrived = {d["number"]: d["at"] for d in sent if d["number"] in posted}
        if len(arrived) == len(posted):
            break
        time.sleep(0.05)
    return sorted((arrived[p] - posted[p]) * 1000 for p in posted if p in arrived)


def _censored(
    whaticket: WhaticketStandIn, posted: dict[str, float], samples: list[float], sent_from: int
) -> list[float]:
    """``samples`` and, for each message not answered, how long it had waited so far."""
    sent = deliveries_since(whaticket, sent_from)
    arrived = {d["number"] for d in sent if d["number"] in posted}
    now = time.time()
    waited = [(now - at) * 1000 for phone, at in posted.items() if phone not in arrived]
    return sorted(samples + waited)


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


def _measure(
    whaticket: WhaticketStandIn, base_url: str, prefix: str, wait: float, sent_from: int
) -> tuple[dict[str, float], list[float]]:
    warm_up = asyncio.run(_drive(base_url, str(int(prefix) + 1), WARM_UP))
    _overheads(whaticket, warm_up, time.monotonic() + 10, sent_from)
    posted = asyncio.run(_drive(base_url, prefix, RATE_PER_S * SECONDS))
    return posted, _overheads(whaticket, posted, time.monotonic() + wait, sent_from)


def bench_latency(
    env: dict[str, str],
    reference_env: dict[str, str],
    settings: Settings,
    whaticket: WhaticketStandIn,
    tmp: Path,
) -> dict[str, Any]:
    results: dict[str, Any] = {"rate_per_s": RATE_PER_S, "seconds": SECONDS,
                               "reference_wait_s": REFERENCE_WAIT_S}  # fmt: skip
    stacks: dict[str, tuple[str, AbstractContextManager[str]]] = {}
    asyncio.run(forget_messages(settings))  # nothing left queued by earlier steps
    with GeminiStandin(delay=0.0) as gemini:
        stacks = {
            "real": ("5531", _atende(env | {"ATENDE_GEMINI_BASE_URL": gemini.base_url,
                                             "ATENDE_GEMINI_API_KEY": "test-key"}, tmp)),
            "reference": ("5541", _reference(reference_env | {"REF_GEMINI_BASE_URL":
                                                                gemini.base_url}, tmp)),
        }  # fmt: skip
        for name, (prefix, stack) in stacks.items():
            sent_from = delivered(whaticket)
            wait = ATENDE_WAIT_S if name == "real" else REFERENCE_WAIT_S
            with ExitStack() as running:
                url = running.enter_context(stack)
                posted, samples = _measure(whaticket, url, prefix, wait, sent_from)
                every = _censored(whaticket, posted, samples, sent_from)
            if name == "reference":
                clear_queue(reference_env)
            results[name] = _summary(every, len(posted)) | {"answered": len(samples)}
            results[name]["lower_bound"] = len(samples) < len(posted)
            if name == "real":
                check = check_run("latency", settings, whaticket, f"E2E-{prefix}-", len(posted),
                                  sent_from)  # fmt: skip
                results["invariants"] = check
    results["ratio_p50"] = round(results["reference"]["p50_ms"] / results["real"]["p50_ms"], 2)
    results["ratio_p99"] = round(results["reference"]["p99_ms"] / results["real"]["p99_ms"], 2)
    return results
