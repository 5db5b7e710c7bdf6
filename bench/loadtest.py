"""A load test an operator points at a staging deployment: Baileys webhooks at a steady rate.

    python -m bench.loadtest --url https://staging.example.com --tenant acme \\
        --connection main --secret "$WEBHOOK_SECRET" --rate 20 --duration 300 --contacts 2000

Knobs: ``--rate`` webhooks per second (open loop: sent on schedule whether or not earlier ones
answered, as Whaticket does), ``--duration`` seconds, ``--contacts`` distinct customers (each
message is a new turn unless the same contact writes again within its debounce),
``--burst`` messages per contact in a row (exercises debounce and bursts), ``--concurrency``
open connections. Prints requests/s, outcome counts and latency percentiles; exits 1 if more
than ``--max-error-ratio`` failed. Point it at staging only: every message is answered (the
tenant's LLM and Whaticket are called — use a sandbox tenant without a Whaticket URL).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
import uuid
from collections import Counter
from typing import Any

import httpx


def baileys(contact: int, n: int) -> dict[str, Any]:
    return {
        "key": {
            "id": f"LOAD{uuid.uuid4().hex[:20].upper()}",
            "remoteJid": f"55119{contact:08d}@s.whatsapp.net",
            "fromMe": False,
        },
        "message": {"conversation": f"Mensagem de carga {n}: qual o horário de atendimento?"},
        "messageTimestamp": int(time.time()),
        "pushName": "Carga",
    }


async def run(args: argparse.Namespace) -> int:
    path = f"/hooks/whaticket/{args.tenant}/{args.connection}/{args.secret}"
    limits = httpx.Limits(max_connections=args.concurrency)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(args.concurrency)
    contacts = itertools.cycle(range(args.contacts))
    async with httpx.AsyncClient(base_url=args.url, timeout=10.0, limits=limits) as client:

        async def one(contact: int, n: int) -> None:
            async with semaphore:
                started = time.perf_counter()
                try:
                    response = await client.post(path, json=baileys(contact, n))
                    body = response.json() if response.status_code == 200 else {}
                    outcomes[str(body.get("status", response.status_code))] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        total = int(args.rate * args.duration)
        contact = 0
        for n in range(total):
            await asyncio.sleep(max(0.0, start + n / args.rate - time.perf_counter()))
            if n % args.burst == 0:  # the same contact writes `burst` messages in a row
                contact = next(contacts)
            tasks.append(asyncio.create_task(one(contact, n)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ok = outcomes["accepted"] + outcomes["duplicate"] + outcomes["spooled"]
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(f"sent {total} in {elapsed:.1f} s = {total / elapsed:.1f}/s")
    print(f"outcomes: {dict(outcomes)}")
    print(f"latency ms: p50 {quantiles[49] * 1000:.1f}  p99 {quantiles[98] * 1000:.1f}")
    failed = (total - ok) / total if total else 0.0
    return 1 if failed > args.max_error_ratio else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--connection", default="main")
    parser.add_argument("--secret", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-error-ratio", type=float, default=0.01)
    sys.exit(asyncio.run(run(parser.parse_args(argv))))


if __name__ == "__main__":
    main()
