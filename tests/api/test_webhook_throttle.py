"""The pre-auth throttle: a source IP that keeps failing authentication gets 429 + Retry-After,
before the tenant is even looked up; a request carrying a valid secret is never refused — from
another IP, and from the throttled IP itself (a helpdesk may share an egress IP with a scanner).
X-Forwarded-For counts only when the api is configured to sit behind trusted proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from prometheus_client import REGISTRY

from services.api.main import create_app
from services.cli.admin import apply_file
from services.core.db import SessionMaker
from tests.api.webhook_app import TENANT_YAML, baileys, hook_path, make_settings

BURST = 3
SCANNER = "203.0.113.66"
HELPDESK = "198.51.100.7"
WRONG = "not-the-secret-at-all-000000000"

Clients = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def app_clients(
    database_url: str, redis_url: str, tmp_path: Path, **extra: Any
) -> AsyncIterator[Clients]:
    """The real app with its lifespan; ``client(ip)`` speaks to it from that TCP peer."""
    settings = make_settings(
        database_url,
        redis_url,
        tmp_path,
        webhook_ip_failure_burst=BURST,
        webhook_ip_failures_per_minute=1,
        **extra,
    )
    await apply_file(settings, TENANT_YAML)
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://atende.test"))
        return clients[-1]

    async with app.router.lifespan_context(app):
        try:
            yield client
        finally:
            for c in clients:
                await c.aclose()


def _refused_ips() -> float:
    return (
        REGISTRY.get_sample_value("atende_rate_limited_total", {"tenant": "-", "dimension": "ip"})
        or 0.0
    )


async def test_a_scanner_is_throttled_while_valid_requests_keep_being_accepted(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    async with app_clients(database_url, redis_url, tmp_path) as client:
        scanner, helpdesk = client(SCANNER), client(HELPDESK)
        before = _refused_ips()
        statuses = [
            (await scanner.post(hook_path(secret=f"{WRONG}{i}"), json=baileys(f"S{i}"))).status_code
            for i in range(BURST)
        ]
        assert statuses == [401] * BURST
        throttled = await scanner.post(hook_path(secret=WRONG), json=baileys("S-x"))
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert throttled.json()["error"] == "rate_limited"
        # Unknown tenants too, answered before any lookup.
        unknown = await scanner.post(hook_path(tenant="nobody"), json=baileys("S-y"))
        assert unknown.status_code == 429

        # The tenant's Whaticket keeps delivering, from another IP and from the same one.
        ok_other = await helpdesk.post(hook_path(), json=baileys("GOOD-1"))
        ok_same = await scanner.post(hook_path(), json=baileys("GOOD-2"))
        assert (ok_other.status_code, ok_same.status_code) == (200, 200)
        assert ok_other.json()["status"] == ok_same.json()["status"] == "accepted"
        # The other IP's own mistakes are its own budget.
        assert (
            await helpdesk.post(hook_path(secret=WRONG), json=baileys("H-x"))
        ).status_code == 401
        assert _refused_ips() >= before + 2


async def test_forwarded_for_is_ignored_unless_a_trusted_proxy_is_configured(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    async with app_clients(database_url, redis_url, tmp_path) as client:
        proxy = client("10.0.0.5")
        for i in range(BURST + 1):  # a forged header per request does not dodge the throttle
            await proxy.post(
                hook_path(secret=WRONG),
                json=baileys(f"F{i}"),
                headers={"x-forwarded-for": f"192.0.2.{i}"},
            )
        forged = await proxy.post(
            hook_path(secret=WRONG), json=baileys("F-x"), headers={"x-forwarded-for": "192.0.2.99"}
        )
        assert forged.status_code == 429

    await redis_client.flushall()
    async with app_clients(database_url, redis_url, tmp_path / "b", trusted_proxy_hops=1) as client:
        proxy = client("10.0.0.5")
        for i in range(BURST + 1):
            await proxy.post(
                hook_path(secret=WRONG), json=baileys(f"P{i}"), headers={"x-forwarded-for": SCANNER}
            )
        behind_scanner = await proxy.post(
            hook_path(secret=WRONG), json=baileys("P-x"), headers={"x-forwarded-for": SCANNER}
        )
        # The client's own claim left of the proxy's entry is not trusted.
        other_client = await proxy.post(
            hook_path(secret=WRONG),
            json=baileys("P-y"),
            headers={"x-forwarded-for": f"{SCANNER}, {HELPDESK}"},
        )
        assert (behind_scanner.status_code, other_client.status_code) == (429, 401)
