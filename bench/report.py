"""docs/benchmarks.md and docs/benchmarks.json from one run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.fairness import section as fairness_section
from bench.goals import goals
from bench.goals import table as goal_table
from bench.growth import DRAIN_TURNS, INGEST_SECONDS
from bench.harness import WORKER_MAX_JOBS
from bench.retrieval import section as retrieval_section

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _profile() -> list[str]:
    return [
        "## Profiling a run",
        "",
        "Where a figure falls short, profile the same work with py-spy (a `bench` extra)"
        " attached by PID to the real process, with nothing changed in it:",
        "",
        "```",
        "python -m bench.profile worker [--turns 1000]   # the drain above, model at 0 s",
        "python -m bench.profile api [--seconds 10]      # the wrk ingest above",
        "```",
        "",
        "Each starts its own embedded Postgres, Redis and stand-ins as `make bench` does, runs"
        " `py-spy record --pid <pid> -f raw --nonblocking` while the work runs, and prints the"
        " share of on-CPU samples by our functions (inclusive: a function counts in every"
        " sample it is on the stack of), by library (sqlalchemy, asyncpg, genai, httpx, redis,"
        " arq, structlog, prometheus_client, pydantic, ...) and by the leaf frame (where the"
        " CPU was spent: our code, a library, the standard library). `--save DIR` keeps the"
        " raw stacks (for flamegraph.pl or speedscope) and the shares as JSON; `--rate` sets"
        " the samples a second (200). Attaching to a process py-spy did not start needs root,"
        " `CAP_SYS_PTRACE` or `kernel.yama.ptrace_scope=0`.",
        "",
    ]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def _ingest(r: dict[str, Any]) -> list[str]:
    rows = [
        [name, f"{r[name]['rps']:.0f}", r[name]["p50_ms"], r[name]["p99_ms"],
         f"{r[name]['non_2xx']:.0f}"]
        for name in ("bare", "real", "reference")
    ]  # fmt: skip
    return [
        "## Webhook ingest",
        "",
        "The real endpoint (path-secret auth, Baileys normalization, contact + conversation"
        " upserts and the message insert committed in Postgres, then the arq enqueue) against a"
        " bare FastAPI handler that only parses the same JSON, and against the reference stack"
        " (the seed design: a Flask webhook under gunicorn with"
        f" {r['reference_workers']} sync workers doing the same auth, upserts, insert and an RQ"
        " enqueue). Atende and the bare handler run as one uvicorn process each."
        f" `wrk -t1 -c{r['connections']} -d{r['seconds_per_run']}s`, distinct messages from"
        f" 5000 customers, {r['rounds']} interleaved rounds, best of each.",
        "",
        *_table(["endpoint", "requests/s", "p50 ms", "p99 ms", "non-2xx"], rows),
        "",
        f"**Real / bare: {r['ratio']}** (aim: at least 0.5). **Real / reference:"
        f" {r['ratio_to_reference']}** (one process against {r['reference_workers']}).",
        "",
    ]


def _drain(r: dict[str, Any]) -> list[str]:
    by_latency = {d["llm_latency_s"]: d for d in r["reference_drain"]}
    arq = r["arq_sleep"]
    rows: list[list[Any]] = [[
        "arq worker, job sleeping 1 s (baseline)", f"{arq['done']}/{arq['jobs']}", arq["seconds"],
        f"{arq['jobs_per_s']} jobs/s", "—", "—", "—", "—",
    ]]  # fmt: skip
    for d in [*r["drain"], r["scaling"]]:
        ref = by_latency.get(d["llm_latency_s"]) if d["workers"] == 1 else None
        workers = "one worker" if d["workers"] == 1 else f"{d['workers']} workers"
        rows.append([
            f"Atende, {workers}, model at {d['llm_latency_s']} s", f"{d['answered']}/{d['turns']}",
            d["seconds"], d["turns_per_s"], d["cpu_ms_per_turn"],
            f"{d['peak_rss_mb']} ({d['in_flight_at_peak']})",
            f"{ref['turns_per_s']} ({ref['answered']} in {ref['seconds']} s)" if ref else "—",
            round(d["turns_per_s"] / ref["turns_per_s"], 1) if ref else "—",
        ])  # fmt: skip
    header = ["run", "turns", "seconds", "turns/s", "CPU ms per turn",
              "peak RSS MB (in flight then)", "RQ worker turns/s", "Atende / RQ"]  # fmt: skip
    one_s = next(d for d in r["drain"] if d["llm_latency_s"] == 1.0)
    zero_s = next(d for d in r["drain"] if d["llm_latency_s"] == 0.0)
    return [
        "## Worker drain",
        "",
        f"`atende worker` processes (`ATENDE_WORKER_MAX_JOBS={WORKER_MAX_JOBS}`) over a backlog"
        " of turns from distinct customers stored and queued beforehand, the Gemini stand-in"
        " answering after a fixed delay and the Whaticket stand-in (saas) receiving the replies."
        " Timed from the first model call to the last reply received. The baseline is an arq"
        " worker (bench/arq_sleep.py, its own process) whose job only sleeps 1 s, with the same"
        " `max_jobs`, `poll_delay` and `keep_result`, the same Redis and a backlog of the same"
        " size, timed from its first job's start to its last job's end: the most any arq worker"
        " can drain at a 1 s model. CPU is the worker processes' utime + stime"
        " (`/proc/<pid>/stat`) from just before the first turn to the last reply, divided by"
        " the turns; RSS is `/proc/<pid>/status` VmRSS sampled every 20 ms, its peak and how"
        f" many turns were in flight then (at most {one_s['max_in_flight']} at 1 s). The"
        " stand-ins run as threads of the benchmark's own process, which took"
        f" {zero_s['standins_cpu_ms_per_turn']} ms of CPU per turn at 0 s on the same cores. The"
        " reference is one RQ worker (a forked work-horse per job, one job at a time) over a"
        " backlog of its own, bounded in time.",
        "",
        *_table(header, rows),
        "",
    ]


def _latency(r: dict[str, Any]) -> list[str]:
    rows = [[name, f"{r[name]['answered']}/{r[name]['messages']}",
             ("≥ " if r[name]["lower_bound"] else "") + str(r[name]["p50_ms"]),
             ("≥ " if r[name]["lower_bound"] else "") + str(r[name]["p99_ms"])]
            for name in ("real", "reference")]  # fmt: skip
    bound = "≥ " if r["reference"]["lower_bound"] else ""
    return [
        "## End-to-end overhead",
        "",
        f"Webhook POST to the Whaticket stand-in receiving the reply, {r['rate_per_s']} new"
        f" customers a second for {r['seconds']} s (open loop: each POST leaves on schedule),"
        " the model answering at once (0 s) and the tenant's debounce at 0, so the figures are"
        " the stack's own cost. Atende (api + worker) and the reference stack (gunicorn + one RQ"
        " worker), one after the other, each after a few warm-up messages. The reference is"
        f" stopped {r['reference_wait_s']} s after the last POST; a message it had not answered"
        " by then counts with the time it had waited, so its figures are lower bounds.",
        "",
        *_table(["stack", "answered", "p50 ms", "p99 ms"], rows),
        "",
        f"**Reference / Atende: {bound}{r['ratio_p50']}× at p50, {bound}{r['ratio_p99']}× at"
        " p99.**",
        "",
    ]


def _invariants(inv: dict[str, Any]) -> list[str]:
    rows = [[r["run"], r["messages"], r["stored"], r["answered_turns"], r["deliveries"],
             r["violations"]] for r in inv["runs"]]  # fmt: skip
    examples = [f"- {r['run']}: {e}" for r in inv["runs"] for e in r["examples"]]
    return [
        "## Invariants after the benchmark",
        "",
        "After each measured run (drains, end-to-end, growth), read back from Postgres and the"
        " Whaticket stand-in (bench/invariants.py): every message the run put in is stored and"
        " belongs to exactly one answered turn, each turn stored one reply, and the stand-in"
        " received each reply exactly once and nothing else for those customers. Any violation"
        " makes `make bench` exit 1.",
        "",
        *_table(
            ["run", "messages", "stored", "in an answered turn", "delivered", "violations"], rows
        ),
        "",
        f"**{inv['messages']:,} messages, {inv['violations']} violations.**",
        *(["", *examples] if examples else []),
        "",
    ]


def _footprint(drain: list[dict[str, Any]], stored: list[dict[str, Any]]) -> list[str]:
    largest = stored[-1]
    redis_rows = [[f"{r['llm_latency_s']} s", r["turns"], r["redis_bytes_per_conversation"],
                   r["redis_keys_per_conversation"]] for r in drain]  # fmt: skip
    sizes = largest["table_bytes"]
    pg_rows = [[name, f"{size / largest['stored_conversations']:.0f}"]
               for name, size in sorted(sizes.items())]  # fmt: skip
    return [
        "## Footprint",
        "",
        "Redis, after a drain, per conversation answered (what a recently active conversation"
        " keeps: job results, rate-limit and lease companions; `INFO used_memory` and `DBSIZE`"
        " before the backlog and after the last reply):",
        "",
        *_table(["run", "conversations", "bytes each", "keys each"], redis_rows),
        "",
        f"Postgres, with {largest['stored_conversations']:,} stored conversations of one"
        " exchange each (`pg_total_relation_size`, indexes and TOAST included), bytes per"
        " conversation:",
        "",
        *_table(["table", "bytes"], pg_rows),
        "",
        f"**{largest['postgres_bytes_per_message']} bytes per message** (the customer's"
        f" message, its turn and the reply) and {largest['postgres_bytes_per_conversation']}"
        " bytes per conversation (contact + conversation).",
        "",
    ]


def _growth(tenants: list[dict[str, Any]], stored: list[dict[str, Any]]) -> list[str]:
    base_t, base_s = tenants[0], stored[0]
    tenant_rows = [[r["tenants"], f"{r['ingest']['rps']:.0f}",
                    round(r["ingest"]["rps"] / base_t["ingest"]["rps"], 2),
                    r["drain"]["turns_per_s"],
                    round(r["drain"]["turns_per_s"] / base_t["drain"]["turns_per_s"], 2)]
                   for r in tenants]  # fmt: skip
    stored_rows = [[f"{r['stored_conversations']:,}", f"{r['ingest']['rps']:.0f}",
                    round(r["ingest"]["rps"] / base_s["ingest"]["rps"], 2),
                    r["drain"]["turns_per_s"],
                    round(r["drain"]["turns_per_s"] / base_s["drain"]["turns_per_s"], 2)]
                   for r in stored]  # fmt: skip
    return [
        "## How cost grows",
        "",
        f"Ingest (`wrk`, {INGEST_SECONDS} s) and drain ({DRAIN_TURNS} turns, 0 s model) with"
        " the traffic spread round-robin over more tenants, and with more conversations"
        " already stored; ratios to the first row.",
        "",
        *_table(["tenants", "ingest req/s", "ratio", "drain turns/s", "ratio"], tenant_rows),
        "",
        *_table(
            ["stored conversations", "ingest req/s", "ratio", "drain turns/s", "ratio"],
            stored_rows,
        ),
        "",
    ]


def write_report(results: dict[str, Any]) -> None:
    DOCS.mkdir(exist_ok=True)
    results["goals"] = goals(results)
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    met = sum(1 for row in results["goals"] if row["met"])
    lines = [
        "# Benchmarks",
        "",
        f"Recorded {results['recorded_at']} on {results['machine']} by `make bench`"
        f" (`python -m bench`, {results['minutes']} minutes); raw numbers in `benchmarks.json`."
        " Every figure is compared with a baseline measured in the same run, on the same"
        " machine, over loopback.",
        "",
        "## Goals",
        "",
        f"{met} of {len(results['goals'])} met. The ratio is measured / baseline (for the"
        " latency, baseline / measured); each row's details are in its section below.",
        "",
        *goal_table(results["goals"]),
        "",
        *_profile(),
        *_ingest(results["ingest"]),
        *_drain(results),
        *_latency(results["latency"]),
        *_footprint(results["drain"], results["stored"]),
        *_growth(results["tenants"], results["stored"]),
        *fairness_section(results["fairness"]),
        *retrieval_section(results["retrieval"]),
        *_invariants(results["invariants"]),
        "Where the time goes and what is left to do: [performance.md](performance.md); what it"
        " means for sizing a deployment: [capacity.md](capacity.md).",
        "",
    ]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))
