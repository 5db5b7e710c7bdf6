"""`make bench`: every figure measured against a baseline in the same run (docs/benchmarks.md).

* ingest: the real webhook vs a bare FastAPI handler vs the reference stack (Flask + gunicorn
  + RQ, the seed design), driven by wrk over loopback;
* drain: turns per second of one worker at a 1 s and a 0 s model, vs one RQ worker;
* end-to-end overhead: webhook to Whaticket at a steady rate, vs the reference stack;
* footprint: Redis bytes per active conversation, Postgres bytes per message;
* growth: ingest and drain at 1, 10 and 100 tenants, and at 10³ and 10⁵ stored conversations;
* fairness: a quiet tenant's turn latency with another tenant flooding at 20×, vs alone;
* retrieval: recall@1/3/5 and MRR of full-text search, vectors and hybrid on a pt-BR FAQ.

Bounded: about eight minutes on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench.drain import bench_drain, bench_reference_drain
from bench.fairness import bench_fairness, record
from bench.growth import TENANT_COUNTS, bench_stored, bench_tenants
from bench.harness import SECRET, TOKEN, tenants_yaml
from bench.ingest import bench_ingest
from bench.latency import bench_latency
from bench.reference.schema import create_schema
from bench.report import DOCS, write_report
from bench.retrieval import bench_retrieval
from bench.retrieval import record as record_retrieval
from services.cli.admin import apply_file
from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core import schema
from services.core.config import Settings
from tests.standins.whaticket import WhaticketStandIn

STEPS = ("ingest", "drain", "latency", "growth", "fairness", "retrieval")
LOOPBACK = "127.0.0.1/32"  # the stand-ins, allowed as tenants' destinations


def _reference_env(
    env: dict[str, str], postgres: EmbeddedPostgres, whaticket_url: str
) -> dict[str, str]:
    """The reference stack on its own database and Redis database of the same servers."""
    assert postgres.server is not None
    postgres.server.psql("CREATE DATABASE reference;")
    socket_dir = parse_qs(urlparse(env["ATENDE_DATABASE_URL"]).query)["host"][0]
    dsn = f"postgresql://postgres@/reference?host={socket_dir}"
    for tenant in ("bench", "drain"):
        create_schema(dsn, tenant, SECRET)
    return env | {
        "REF_DATABASE_URL": dsn,
        "REF_REDIS_URL": env["ATENDE_REDIS_URL"].rsplit("/", 1)[0] + "/1",
        "REF_GEMINI_KEY": "test-key",
        "REF_WHATICKET_URL": whaticket_url,
        "REF_WHATICKET_TOKEN": TOKEN,
    }


def _step(name: str, result: Any) -> Any:
    print(f"{name}: {json.dumps(result)[:400]}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument(
        "--only", choices=STEPS, action="append", help="run these steps; the report is not written"
    )
    args = parser.parse_args()
    steps = set(args.only or STEPS)
    if steps & {"ingest", "growth"} and shutil.which("wrk") is None:
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
            "ATENDE_EGRESS_ALLOWED_NETWORKS": json.dumps([LOOPBACK]),
        }
        settings = Settings(
            database_url=env["ATENDE_DATABASE_URL"],
            redis_url=env["ATENDE_REDIS_URL"],
            egress_allowed_networks=[LOOPBACK],
        )
        schema.upgrade(settings.database_url)
        results: dict[str, Any] = {}
        with WhaticketStandIn("saas", [TOKEN]) as whaticket:
            answering = ["drain", *(f"bench{i}" for i in range(max(TENANT_COUNTS)))]
            manifests = tenants_yaml(["bench"]) + "---" + tenants_yaml(answering, whaticket.url)
            asyncio.run(apply_file(settings, manifests))
            reference = _reference_env(env, postgres, whaticket.url)

            if "ingest" in steps:
                results["ingest"] = _step(
                    "ingest", bench_ingest(env, reference, tmp, args.seconds, args.rounds)
                )
            if "drain" in steps:
                results["drain"] = [
                    _step(
                        f"drain {latency}s",
                        bench_drain(env, settings, whaticket, tmp, latency, args.turns),
                    )
                    for latency in (1.0, 0.0)
                ]
                results["reference_drain"] = [
                    _step(
                        "reference drain 1s",
                        bench_reference_drain(reference, whaticket, tmp, 1.0, 30, 20.0),
                    ),
                    _step(
                        "reference drain 0s",
                        bench_reference_drain(reference, whaticket, tmp, 0.0, 200, 20.0),
                    ),
                ]
            if "latency" in steps:
                results["latency"] = _step("latency", bench_latency(env, reference, whaticket, tmp))
            if "growth" in steps:
                results["tenants"] = _step("tenants", bench_tenants(env, settings, whaticket, tmp))
                results["stored"] = _step("stored", bench_stored(env, settings, whaticket, tmp))
            if "fairness" in steps:
                results["fairness"] = _step(
                    "fairness", bench_fairness(env, settings, whaticket, tmp)
                )
            if "retrieval" in steps:
                results["retrieval"] = _step("retrieval", bench_retrieval(settings))
        if args.only:
            if steps == {"fairness"}:  # its own section, rewritten alone
                record(results["fairness"], DOCS)
            if steps == {"retrieval"}:
                record_retrieval(results["retrieval"], DOCS)
            return
        machine = f"{os.cpu_count()} cores, {platform.machine()}"
        results["machine"] = machine + f", Python {platform.python_version()}"
        results["recorded_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_report(results)
        print(f"wrote {DOCS / 'benchmarks.md'}")
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
