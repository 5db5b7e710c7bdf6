"""`make bench`: every figure measured against a baseline in the same run (docs/benchmarks.md).

* ingest: the real webhook vs a bare FastAPI handler vs the reference stack (Flask + gunicorn
  + RQ, the seed design), driven by wrk over loopback;
* drain: turns per second of one worker at a 1 s model vs an arq worker whose job only sleeps
  1 s (same max_jobs, backlog and Redis), at a 0 s model with its CPU per turn, two worker
  processes vs one, the worker's peak RSS with 256 turns in flight, vs one RQ worker;
* end-to-end overhead: webhook to Whaticket at 50 new customers a second, vs the reference stack;
* footprint: Redis bytes per active conversation, Postgres bytes per message;
* growth: ingest and drain at 1, 10 and 100 tenants, and at 10³ and 10⁵ stored conversations;
* fairness: a quiet tenant's turn latency with another tenant flooding at 20×, vs alone;
* retrieval: recall@1/3/5 and MRR of full-text search, vectors and hybrid on a pt-BR FAQ;
* invariants, after all of it: every message of every run in one answered turn, each reply
  delivered exactly once. A violation makes the command exit 1 (after recording it).

The Goals table at the top of docs/benchmarks.md sums it up (bench/goals.py). Bounded: about
ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.arq_sleep import bench_arq_sleep
from bench.drain import bench_drain, bench_reference_drain
from bench.fairness import bench_fairness, record
from bench.growth import bench_stored, bench_tenants
from bench.ingest import bench_ingest
from bench.invariants import summary
from bench.latency import bench_latency
from bench.report import DOCS, write_report
from bench.retrieval import bench_retrieval
from bench.retrieval import record as record_retrieval
from bench.stack import Bench, environment

STEPS = ("ingest", "drain", "latency", "growth", "fairness", "retrieval")


_STARTED = time.monotonic()


def _step(name: str, result: Any) -> Any:
    minutes = (time.monotonic() - _STARTED) / 60
    print(f"[{minutes:4.1f} min] {name}: {json.dumps(result)[:400]}", flush=True)
    return result


def _checks(value: Any) -> list[dict[str, Any]]:
    """Every run's invariant check found anywhere in the results, in the order they ran."""
    if isinstance(value, dict):
        own = [value["invariants"]] if "invariants" in value else []
        rest = [c for k, v in value.items() if k != "invariants" for c in _checks(v)]
        return own + rest
    if isinstance(value, list):
        return [c for item in value for c in _checks(item)]
    return []


def _drains(b: Bench, turns: int) -> dict[str, Any]:
    """Side by side: arq's own ceiling right before the worker at 1 s, then 0 s, then two
    workers at 0 s, then the reference's RQ worker."""
    redis_url = b.env["ATENDE_REDIS_URL"]
    out: dict[str, Any] = {
        "arq_sleep": _step("arq worker, job sleeping 1 s", bench_arq_sleep(redis_url, b.tmp, turns))
    }
    out["drain"] = [
        _step(f"drain {latency}s", bench_drain(b.env, b.settings, b.whaticket, b.tmp, latency,
                                               turns))
        for latency in (1.0, 0.0)
    ]  # fmt: skip
    out["scaling"] = _step(
        "drain 0.0s, two workers",
        bench_drain(b.env, b.settings, b.whaticket, b.tmp, 0.0, turns, workers=2),
    )
    out["reference_drain"] = [
        _step("reference drain 1s", bench_reference_drain(b.reference, b.whaticket, b.tmp, 1.0,
                                                          30, 20.0)),
        _step("reference drain 0s", bench_reference_drain(b.reference, b.whaticket, b.tmp, 0.0,
                                                          200, 20.0)),
    ]  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--turns", type=int, default=1000, help="backlog of each drain")
    parser.add_argument(
        "--only", choices=STEPS, action="append", help="run these steps; the report is not written"
    )
    args = parser.parse_args()
    steps = set(args.only or STEPS)
    if steps & {"ingest", "growth"} and shutil.which("wrk") is None:
        sys.exit("wrk not found: `make bench` installs it (Debian package wrk)")

    results: dict[str, Any] = {}
    with environment() as b:
        if "ingest" in steps:
            results["ingest"] = _step(
                "ingest", bench_ingest(b.env, b.reference, b.tmp, args.seconds, args.rounds)
            )
        if "drain" in steps:
            results |= _drains(b, args.turns)
        if "latency" in steps:
            results["latency"] = _step(
                "latency", bench_latency(b.env, b.reference, b.settings, b.whaticket, b.tmp)
            )
        if "growth" in steps:
            results["tenants"] = _step(
                "tenants", bench_tenants(b.env, b.settings, b.whaticket, b.tmp)
            )
            results["stored"] = _step("stored", bench_stored(b.env, b.settings, b.whaticket, b.tmp))
        if "fairness" in steps:
            results["fairness"] = _step(
                "fairness", bench_fairness(b.env, b.settings, b.whaticket, b.tmp)
            )
        if "retrieval" in steps:
            results["retrieval"] = _step("retrieval", bench_retrieval(b.settings))
    invariants = summary(_checks(results))
    print(
        f"invariants: {invariants['messages']} messages in {len(invariants['runs'])} runs,"
        f" {invariants['deliveries']} replies delivered, {invariants['violations']} violations"
        + "".join(f"\n  {r['run']}: {e}" for r in invariants["runs"] for e in r["examples"]),
        flush=True,
    )
    if args.only:
        if steps == {"fairness"}:  # its own section, rewritten alone
            record(results["fairness"], DOCS)
        if steps == {"retrieval"}:
            record_retrieval(results["retrieval"], DOCS)
    else:
        results["invariants"] = invariants
        machine = f"{os.cpu_count()} cores, {platform.machine()}"
        results["machine"] = machine + f", Python {platform.python_version()}"
        results["minutes"] = round((time.monotonic() - _STARTED) / 60, 1)
        results["recorded_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_report(results)
        print(f"wrote {DOCS / 'benchmarks.md'}")
    if not invariants["ok"]:
        sys.exit("invariants violated after the benchmark: see above")


if __name__ == "__main__":
    main()
