"""Where a process's CPU goes, on the benchmark's own runs, with public tools only: py-spy
attached by PID to the real process (not an in-process profiler changing what it measures).

    python -m bench.profile worker [--turns 1000]   # the drain at a 0 s model
    python -m bench.profile api [--seconds 10]      # the wrk ingest of `make bench`

Runs ``py-spy record --pid <pid> -f raw --nonblocking --full-filenames --nolineno`` while the
work runs, then prints the share of on-CPU samples (py-spy leaves idle threads out) by our
modules' functions, inclusive (a function counts in every sample it is on the stack of), by
library (inclusive: sqlalchemy, asyncpg, genai, httpx, redis, arq, structlog, ...) and by where
the sample itself was (the leaf frame: our code, a library, the standard library).
``--save DIR`` keeps the raw stacks (flamegraph.pl or speedscope read them) and the shares as
JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.drain import _wait_deliveries, forget_messages, seed
from bench.harness import WORKER_MAX_JOBS, delivered, process, wait_http, wrk
from bench.ingest import CONNECTIONS, HOOK
from bench.stack import Bench, environment
from services.cli.embedded import free_port
from tests.standins.gemini import GeminiStandin

ROOT = Path(__file__).resolve().parents[1]
OURS = ("services", "bench", "tests")
# Distributions whose import name differs, or that are one library under several packages.
_ALIASES = {"google": "genai", "pydantic_core": "pydantic", "httpcore": "httpx", "_cffi": "cffi"}


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        sys.exit("py-spy not found: pip install -e '.[bench]'")
    return found


def _start_py_spy(pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    args = [_py_spy(), "record", "--pid", str(pid), "-f", "raw", "--nonblocking",
            "--full-filenames", "--nolineno", "-r", str(rate), "-o", str(out)]  # fmt: skip
    spy = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # attached before the work starts
    if spy.poll() is not None:
        sys.exit(f"py-spy could not attach: {spy.stderr.read().decode() if spy.stderr else ''}")
    return spy


def _stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    spy.wait(60)


def _place(path: str) -> tuple[str, str]:
    """(kind, name) of a frame's file: ("ours", "services.core.turns.runner"),
    ("library", "sqlalchemy") or ("stdlib", "asyncio")."""
    if "site-packages/" in path:
        top = path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        top = top.split(".", 1)[0] if top.endswith((".so",)) else top
        return "library", _ALIASES.get(top, top)
    try:
        relative = Path(path).resolve().relative_to(ROOT)
    except (ValueError, OSError):
        relative = None
    if relative is not None and relative.parts and relative.parts[0] in OURS:
        return "ours", ".".join(relative.with_suffix("").parts)
    if "/lib/python3" in path:
        rest = path.split("/lib/python3", 1)[1].split("/", 2)
        return "stdlib", rest[1].removesuffix(".py") if len(rest) > 1 else "?"
    return "other", path


def shares(raw: str) -> dict[str, Any]:
    """Inclusive shares by our function and by library, and leaf shares, of py-spy raw output."""
    total = 0
    functions: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        seen_functions, seen_libraries = set(), set()
        kind = name = ""
        for frame in stack.split(";"):
            function, _, path = frame.rpartition(" (")
            kind, name = _place(path.rstrip(")"))
            if kind == "ours" and not name.startswith("services.cli"):  # the entry chain
                seen_functions.add(f"{name}.{function}")
            elif kind == "library":
                seen_libraries.add(name)
        functions.update(dict.fromkeys(seen_functions, count))
        libraries.update(dict.fromkeys(seen_libraries, count))
        leaves[f"{kind} {name}" if kind in ("library", "stdlib") else kind] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common()] if total else []

    return {
        "samples": total,
        "functions": share(functions),
        "libraries": share(libraries),
        "leaves": share(leaves),
    }


def _print(result: dict[str, Any], top: int) -> None:
    print(f"\n{result['samples']} on-CPU samples")
    for title, key in (("our functions, inclusive", "functions"),
                       ("libraries, inclusive", "libraries"),
                       ("where the sample was (leaf frame)", "leaves")):  # fmt: skip
        print(f"\n{title}:")
        for name, pct in result[key][:top]:
            print(f"  {pct:5.1f} %  {name}")


def profile_worker(b: Bench, out: Path, turns: int, rate: int) -> dict[str, Any]:
    asyncio.run(forget_messages(b.settings))
    with GeminiStandin(delay=0.0) as gemini:
        env = b.env | {
            "ATENDE_GEMINI_API_KEY": "test-key",
            "ATENDE_GEMINI_BASE_URL": gemini.base_url,
            "ATENDE_WORKER_MAX_JOBS": str(WORKER_MAX_JOBS),
            "ATENDE_WORKER_METRICS_PORT": "0",
        }
        log = b.tmp / "profile-worker.log"
        with process([sys.executable, "-m", "services.cli", "worker"], env, log) as worker:
            deadline = time.monotonic() + 60
            while b"worker.started" not in log.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.1)
            spy = _start_py_spy(worker.pid, out, rate)
            target = delivered(b.whaticket) + turns
            asyncio.run(seed(b.settings, turns, f"profile-{time.time_ns()}", ["drain"]))
            elapsed = _wait_deliveries(b.whaticket, target, time.monotonic() + 300)
            _stop_py_spy(spy)
    done = turns - max(0, target - delivered(b.whaticket))
    print(f"worker: {done}/{turns} turns in {elapsed:.1f} s (0 s model, seeding included)")
    return {"turns": turns, "answered": done}


def profile_api(b: Bench, out: Path, seconds: int, rate: int) -> dict[str, Any]:
    port = free_port()
    args = [sys.executable, "-m", "services.cli", "api", "--port", str(port)]
    with process(args, b.env, b.tmp / "profile-api.log") as api:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        url = f"http://127.0.0.1:{port}{HOOK}"
        wrk(url, 2, 16)  # warm-up, as the benchmark does
        spy = _start_py_spy(api.pid, out, rate)
        result = wrk(url, seconds, CONNECTIONS)
        _stop_py_spy(spy)
    print(f"api: {result['rps']:.0f} requests/s, p99 {result['p99_ms']} ms under py-spy")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", choices=("worker", "api"))
    parser.add_argument("--turns", type=int, default=1000, help="worker: the backlog")
    parser.add_argument("--seconds", type=int, default=10, help="api: seconds of wrk")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples a second")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--save", type=Path, help="keep the raw stacks and shares here")
    args = parser.parse_args(argv)
    if args.target == "api" and shutil.which("wrk") is None:
        sys.exit("wrk not found: `make bench-deps` installs it")
    _py_spy()
    with environment() as b:
        raw_path = b.tmp / f"py-spy-{args.target}.txt"
        if args.target == "worker":
            run = profile_worker(b, raw_path, args.turns, args.rate)
        else:
            run = profile_api(b, raw_path, args.seconds, args.rate)
        raw = raw_path.read_text() if raw_path.exists() else ""
        result = shares(raw) | {"target": args.target, "run": run}
        _print(result, args.top)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / raw_path.name).write_text(raw)
            (args.save / f"shares-{args.target}.json").write_text(json.dumps(result, indent=2))
            print(f"\nraw stacks and shares in {args.save}")


if __name__ == "__main__":
    main()
