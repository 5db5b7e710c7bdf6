"""What every measurement shares: the tenants it applies, the processes it starts (and stops by
PID), waiting for HTTP, and wrk."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

SECRET = "bench-webhook-secret-0123456789abcdef"
TOKEN = "bench-whaticket-token"
WORKER_MAX_JOBS = 256


def tenants_yaml(names: list[str], whaticket_url: str | None = None) -> str:
    """A Secret (labelled for it: a tenant uses only its own) and a BotTenant per name, all with
    the same webhook secret; with a Whaticket URL the tenants answer (the drain), without it they
    only ingest."""
    url = f"url: {whaticket_url}\n    " if whaticket_url else ""
    token_ref = "\n        apiTokenSecretRef: {{name: bench-{name}, key: token}}"
    token_ref = token_ref if whaticket_url else ""
    tenants = [
        f"""
apiVersion: v1
kind: Secret
metadata: {{name: bench-{name}, labels: {{atende.dev/tenant: {name}}}}}
stringData: {{webhook-secret: {SECRET}, token: {TOKEN}}}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {name}}}
spec:
  displayName: Bench
  whaticket:
    {url}variant: saas
    connections:
      - name: main{token_ref.format(name=name)}
  webhook: {{secretRefs: [{{name: bench-{name}, key: webhook-secret}}]}}
  persona: {{systemPrompt: "Você é um assistente de testes."}}
  conversation: {{debounceSeconds: 0}}
  rateLimits: {{perContactPerMinute: 600, perTenantPerMinute: 100000}}
"""
        for name in names
    ]
    return "---".join(tenants)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, seconds: int, connections: int, *, tenants: int = 0) -> dict[str, float]:
    """Requests/s, p50/p99 latency and non-2xx answers of a wrk run of ``webhook.lua``;
    ``tenants`` spreads the messages over tenants bench0..bench<n-1> (``url`` is then the
    server's root)."""
    script = Path(__file__).with_name("webhook.lua")
    env = os.environ | {"BENCH_TENANTS": str(tenants), "BENCH_SECRET": SECRET}
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        result[f"p{pct}_ms"] = round(float(value) * _UNITS[unit], 3)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def delivered(whaticket: WhaticketStandIn) -> int:
    """How many sends the Whaticket stand-in has recorded, read without copying its list: the
    stand-ins run as threads of this process, and a watch loop copying thousands of entries
    every few milliseconds would hold the GIL they need to answer the worker."""
    return len(whaticket._sent)


def deliveries_since(whaticket: WhaticketStandIn, start: int) -> list[dict[str, Any]]:
    """The sends recorded from index ``start`` on (a slice, not the whole history)."""
    with whaticket._lock:
        return whaticket._sent[start:]


def model_calls(gemini: GeminiStandin) -> int:
    """Requests the Gemini stand-in has received (the bench tenants embed nothing), in O(1)."""
    return len(gemini._state.log)
