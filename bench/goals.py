"""The Goals table at the top of docs/benchmarks.md: each figure of the performance goals with
the baseline measured in the same run, the ratio and whether the goal is met."""

from __future__ import annotations

from typing import Any

from bench.harness import WORKER_MAX_JOBS

HEADER = ["figure", "baseline (measured)", "measured", "ratio", "goal", "met"]


def _yes(met: bool) -> str:
    return "yes" if met else "no"


def _drains(r: dict[str, Any]) -> list[dict[str, Any]]:
    by_latency = {d["llm_latency_s"]: d for d in r.get("drain", [])}
    one_s, zero_s, two = by_latency.get(1.0), by_latency.get(0.0), r.get("scaling")
    rows = []
    if one_s and "arq_sleep" in r:
        arq = r["arq_sleep"]
        ratio = one_s["turns_per_s"] / arq["jobs_per_s"]
        rows.append({
            "figure": f"one worker, model answering after 1 s, backlog of {one_s['turns']:,}"
                      " turns from distinct customers",
            "baseline": f"arq worker, job sleeping 1 s, max_jobs {arq['max_jobs']}, backlog"
                        f" {arq['jobs']:,}: {arq['jobs_per_s']} jobs/s",
            "measured": f"{one_s['turns_per_s']} turns/s", "ratio": round(ratio, 3),
            "goal": "≥ 0.8", "met": ratio >= 0.8,
        })  # fmt: skip
    if zero_s and one_s:
        ratio = zero_s["turns_per_s"] / one_s["turns_per_s"]
        cpu = zero_s["cpu_ms_per_turn"]
        rows.append({
            "figure": "one worker, model answering at once: turns/s and the worker's CPU per turn",
            "baseline": f"the same worker at 1 s: {one_s['turns_per_s']} turns/s",
            "measured": f"{zero_s['turns_per_s']} turns/s, {cpu} ms CPU per turn",
            "ratio": round(ratio, 2), "goal": "≥ 300 turns/s, ≤ 3 ms CPU per turn",
            "met": zero_s["turns_per_s"] >= 300 and cpu is not None and cpu <= 3,
        })  # fmt: skip
    if one_s:
        rows.append({
            "figure": f"worker RSS with {WORKER_MAX_JOBS} turns in flight (1 s model)",
            "baseline": "—",
            "measured": f"{one_s['peak_rss_mb']} MB peak ({one_s['in_flight_at_peak']} in flight"
                        f" then, at most {one_s['max_in_flight']})",
            "ratio": "—", "goal": "≤ 300 MB", "met": one_s["peak_rss_mb"] <= 300,
        })  # fmt: skip
    if zero_s and two:
        ratio = two["turns_per_s"] / zero_s["turns_per_s"]
        rows.append({
            "figure": "scaling: two worker processes vs one, 0 s model (CPU-bound)",
            "baseline": f"one process: {zero_s['turns_per_s']} turns/s",
            "measured": f"two processes: {two['turns_per_s']} turns/s",
            "ratio": round(ratio, 2), "goal": "≥ 1.6×", "met": ratio >= 1.6,
        })  # fmt: skip
    return rows


def goals(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    drains = _drains(r)
    rows += [row for row in drains if not row["figure"].startswith(("worker RSS", "scaling"))]
    if "ingest" in r:
        i = r["ingest"]
        rows.append({
            "figure": "webhook ingest, requests/s (one uvicorn process each)",
            "baseline": f"bare FastAPI handler parsing the same JSON: {i['bare']['rps']:.0f} req/s",
            "measured": f"{i['real']['rps']:.0f} req/s", "ratio": i["ratio"],
            "goal": "≥ 0.5", "met": i["ratio"] >= 0.5,
        })  # fmt: skip
    if "latency" in r:
        lat = r["latency"]
        bound = "≥ " if lat["reference"]["lower_bound"] else ""
        p99, ratio = lat["real"]["p99_ms"], lat["ratio_p99"]
        rows.append({
            "figure": f"webhook → reply sent, p99, model at 0 s, {lat['rate_per_s']} new"
                      f" customers/s for {lat['seconds']} s, debounce excluded",
            "baseline": f"reference Flask + RQ: {bound}{lat['reference']['p99_ms']} ms"
                        f" ({lat['reference']['answered']}/{lat['reference']['messages']}"
                        " answered)",
            "measured": f"{p99} ms", "ratio": f"{bound}{ratio}×",
            "goal": "≤ 60 ms and ≥ 20× better", "met": p99 <= 60 and ratio >= 20,
        })  # fmt: skip
    rows += [row for row in drains if row["figure"].startswith(("worker RSS", "scaling"))]
    if "invariants" in r:
        inv = r["invariants"]
        rows.append({
            "figure": "after the benchmark: each message in one answered turn, each reply"
                      " delivered once",
            "baseline": "—",
            "measured": f"{inv['messages']:,} messages in {len(inv['runs'])} runs,"
                        f" {inv['deliveries']:,} replies delivered, {inv['violations']} violations",
            "ratio": "—", "goal": "nothing lost, nothing doubled", "met": inv["ok"],
        })  # fmt: skip
    return rows


def table(rows: list[dict[str, Any]]) -> list[str]:
    keys = ["figure", "baseline", "measured", "ratio", "goal"]
    return [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join([*(str(row[k]) for k in keys), _yes(row["met"])]) + " |"
          for row in rows),
    ]  # fmt: skip
