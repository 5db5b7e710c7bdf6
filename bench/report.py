"""docs/benchmarks.md and docs/benchmarks.json from one run's results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.fairness import section as fairness_section
from bench.growth import DRAIN_TURNS, INGEST_SECONDS
from bench.harness import WORKER_MAX_JOBS
from bench.latency import RATE_PER_S, SECONDS
from bench.retrieval import section as retrieval_section

DOCS = Path(__file__).resolve().parents[1] / "docs"


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


def _drain(drain: list[dict[str, Any]], reference: list[dict[str, Any]]) -> list[str]:
    by_latency = {r["llm_latency_s"]: r for r in reference}
    rows = []
    for r in drain:
        ref = by_latency.get(r["llm_latency_s"])
        rows.append([
            f"{r['llm_latency_s']} s", f"{r['answered']}/{r['turns']}", r["seconds"],
            r["turns_per_s"], r["concurrency_little"] or "—", r["ratio_to_ideal"] or "—",
            f"{ref['turns_per_s']} ({ref['answered']} in {ref['seconds']} s)" if ref else "—",
            round(r["turns_per_s"] / ref["turns_per_s"], 1) if ref else "—",
        ])  # fmt: skip
    header = ["LLM latency", "turns", "seconds", "turns/s", "concurrency (rate × latency)",
              "vs ideal", "RQ worker turns/s", "Atende / RQ"]  # fmt: skip
    return [
        "## Worker drain",
        "",
        f"One `atende worker` process (`ATENDE_WORKER_MAX_JOBS={WORKER_MAX_JOBS}`), a backlog of"
        " turns from distinct customers, the Gemini stand-in answering after a fixed delay and"
        " the Whaticket stand-in (saas) receiving the replies. Timed from the first model call"
        " to the last answered turn. The reference is one RQ worker (a forked work-horse per"
        " job, one job at a time) over the same backlog, bounded in time.",
        "",
        *_table(header, rows),
        "",
        "The ideal at 1 s is `max_jobs / latency`; the 0 s row is the pipeline's own cost per"
        " turn. Aim: one worker sustains at least 200 concurrent turns with a 1 s LLM.",
        "",
    ]


def _latency(r: dict[str, Any]) -> list[str]:
    rows = [[name, f"{r[name]['answered']}/{r[name]['messages']}", r[name]["p50_ms"],
             r[name]["p99_ms"]] for name in ("real", "reference")]  # fmt: skip
    return [
        "## End-to-end overhead",
        "",
        f"Webhook POST to the Whaticket stand-in receiving the reply, {RATE_PER_S} new"
        f" customers a second for {SECONDS} s, the model answering at once (0 s), so the"
        " figures are the stack's own cost. Atende (api + worker) and the reference stack"
        " (gunicorn + one RQ worker), one after the other.",
        "",
        *_table(["stack", "answered", "p50 ms", "p99 ms"], rows),
        "",
        f"**Reference / Atende: {r['ratio_p50']}× at p50, {r['ratio_p99']}× at p99.**",
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
    (DOCS / "benchmarks.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Benchmarks",
        "",
        f"Recorded {results['recorded_at']} on {results['machine']} by `make bench`"
        " (`python -m bench`, about eight minutes); raw numbers in `benchmarks.json`. Every figure"
        " is compared with a baseline measured in the same run, on the same machine, over"
        " loopback.",
        "",
        *_ingest(results["ingest"]),
        *_drain(results["drain"], results["reference_drain"]),
        *_latency(results["latency"]),
        *_footprint(results["drain"], results["stored"]),
        *_growth(results["tenants"], results["stored"]),
        *fairness_section(results["fairness"]),
        *retrieval_section(results["retrieval"]),
        "Where the time goes and what is left to do: [performance.md](performance.md); what it"
        " means for sizing a deployment: [capacity.md](capacity.md).",
        "",
    ]
    (DOCS / "benchmarks.md").write_text("\n".join(lines))
