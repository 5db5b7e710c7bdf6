"""Webhook ingest: the real endpoint against a bare FastAPI handler and against the reference
stack's Flask webhook, driven by wrk over loopback in interleaved rounds."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.harness import SECRET, process, wait_http, wrk
from bench.reference.run import webhook_server
from services.cli.embedded import free_port

CONNECTIONS = 32
REFERENCE_WORKERS = 4  # gunicorn's (2 × cores) rule of thumb on the 2-core machine, less one
HOOK = f"/hooks/whaticket/bench/main/{SECRET}"


def bench_ingest(
    env: dict[str, str], reference_env: dict[str, str], tmp: Path, seconds: int, rounds: int
) -> dict[str, Any]:
    real_port, bare_port, reference_port = free_port(), free_port(), free_port()
    atende = [sys.executable, "-m", "services.cli"]
    with ExitStack() as stack:
        stack.enter_context(
            process([*atende, "api", "--port", str(real_port)], env, tmp / "api.log")
        )
        stack.enter_context(
            process(
                [sys.executable, "-m", "bench.bare", "--port", str(bare_port)],
                env,
                tmp / "bare.log",
            )
        )
        reference = stack.enter_context(
            webhook_server(
                reference_env, reference_port, tmp / "reference.log", workers=REFERENCE_WORKERS
            )
        )
        urls = {
            "bare": f"http://127.0.0.1:{bare_port}{HOOK}",
            "real": f"http://127.0.0.1:{real_port}{HOOK}",
            "reference": f"{reference}{HOOK}",
        }
        wait_http(f"http://127.0.0.1:{real_port}/readyz")
        wait_http(f"http://127.0.0.1:{bare_port}/docs")
        for url in urls.values():
            wrk(url, 2, 16)  # warm-up: connection pools, tenant caches
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
        for _ in range(rounds):  # interleaved, so drift on the machine hits all alike
            for name, url in urls.items():
                runs[name].append(wrk(url, seconds, CONNECTIONS))
    best = {k: max(v, key=lambda r: r["rps"]) for k, v in runs.items()}
    return {
        "connections": CONNECTIONS,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "reference_workers": REFERENCE_WORKERS,
        **best,
        "ratio": round(best["real"]["rps"] / best["bare"]["rps"], 3),
        "ratio_to_reference": round(best["real"]["rps"] / best["reference"]["rps"], 3),
        "all_runs": runs,
    }
