"""A webhook's latency while 25 sign-ins run at once, against a real ``atende api`` process.

Argon2id takes tens of milliseconds of CPU per sign-in; on the event loop, 25 parallel
sign-ins delayed a webhook from 65 ms to 4.4 s. It now runs on a bounded thread pool
(services/core/auth/passwords.py). This measures the webhook's POST latency with the api idle,
then while 25 clients keep signing in (wrong passwords from 25 e-mails, so the throttle's free
attempts are what they use, then right passwords), and prints both with their ratio.

    .venv/bin/python -m bench.sign_in_load
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.harness import SECRET, process, tenants_yaml, wait_http
from bench.stack import servers
from services.cli.admin import apply_file
from services.cli.embedded import free_port
from services.core.auth.roles import Role
from services.core.auth.sessions import create_user
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction

SIGN_INS = 25
SAMPLES = 40
PASSWORD = "bench-sign-in-password-01"
HOOK = f"/hooks/whaticket/bench/main/{SECRET}"


def _payload(i: int, phase: str) -> dict[str, Any]:
    return {
        "key": {"remoteJid": f"55119{i:08d}@s.whatsapp.net", "fromMe": False, "id": f"{phase}{i}"},
        "pushName": "Cliente",
        "message": {"conversation": "Oi"},
    }


async def _users(settings: Settings) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    async with transaction(create_sessionmaker(engine)) as session:
        for i in range(SIGN_INS):
            await create_user(
                session, email=f"user{i}@bench.test", password=PASSWORD,
                role=Role.PLATFORM_ADMIN, tenant_id=None, actor="bench",
            )  # fmt: skip
    await engine.dispose()


async def _webhooks(client: httpx.AsyncClient, phase: str) -> list[float]:
    latencies = []
    for i in range(SAMPLES):
        started = time.perf_counter()
        (await client.post(HOOK, json=_payload(i, phase))).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    return latencies


async def _sign_in_forever(client: httpx.AsyncClient, i: int, stop: asyncio.Event) -> int:
    """Signs user ``i`` in again and again; how many sign-ins succeeded."""
    done = 0
    while not stop.is_set():
        answer = await client.post(
            "/api/v1/auth/token",
            json={"email": f"user{i}@bench.test", "password": PASSWORD},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},  # 25 people, not one IP
        )
        answer.raise_for_status()
        done += 1
    return done


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 1),
        "max_ms": round(ordered[-1], 1),
    }


async def _measure(base_url: str) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=SIGN_INS + 5)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        idle = await _webhooks(client, "idle")
        stop = asyncio.Event()
        workers = [asyncio.create_task(_sign_in_forever(client, i, stop)) for i in range(SIGN_INS)]
        await asyncio.sleep(0.5)
        loaded = await _webhooks(client, "load")
        stop.set()
        sign_ins = sum(await asyncio.gather(*workers))
    result: dict[str, Any] = {
        "idle": _summary(idle),
        "during_sign_ins": _summary(loaded),
        "sign_ins": sign_ins,
    }
    result["median_ratio"] = round(
        result["during_sign_ins"]["median_ms"] / result["idle"]["median_ms"], 2
    )
    return result


def main() -> None:
    with servers("atende-bench-sign-in-", {"ATENDE_TRUSTED_PROXY_HOPS": "1"}) as (
        env,
        settings,
        _,
        tmp,
    ):
        asyncio.run(apply_file(settings, tenants_yaml(["bench"])))
        asyncio.run(_users(settings))
        port = free_port()
        atende = str(Path(sys.executable).with_name("atende"))
        with process([atende, "api", "--port", str(port)], env, tmp / "api.log"):
            wait_http(f"http://127.0.0.1:{port}/readyz")
            print(json.dumps(asyncio.run(_measure(f"http://127.0.0.1:{port}")), indent=2))


if __name__ == "__main__":
    main()
