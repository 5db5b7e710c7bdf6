"""The whole operator (``atende_operator.main.operate``: registry, startup, kopf's watches,
the official client for Secrets) against kmock's in-memory Kubernetes API on 127.0.0.1.

kmock's emulator merge-patches naively and sets no ``generation``/``uid``/``resourceVersion``,
so the objects below carry their own: this is a wiring test (watch → handler → Postgres →
status). The one API-server semantic it relies on, ``labelSelector`` on lists and watches, is
emulated as the Kubernetes docs describe it (``tests/operator/apiserver.py`` cites them).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import kmock
import pytest
import pytest_asyncio
import yaml
from kubernetes.config import kube_config
from pydantic import SecretStr
from sqlalchemy import select

from atende_operator.main import operate
from services.cli.embedded import free_port
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.models import Tenant
from services.core.tenants.credentials import CredentialCipher
from tests.fixtures import kube

from .apiserver import LabelSelectingEmulator
from .conftest import SECRET_KEY, TOKEN, TOKEN_ROTATED, bottenant, secret_data

NS = "tenants-a"
BOTTENANTS = f"/apis/atende.dev/v1alpha1/namespaces/{NS}/bottenants"
SECRETS = f"/api/v1/namespaces/{NS}/secrets"
MERGE = {"Content-Type": "application/merge-patch+json"}
OPTED_IN = {"atende.dev/tenant": "acme"}

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]


async def eventually[T](
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 15
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="session")
async def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[kmock.Server]:
    emulator = LabelSelectingEmulator()
    emulator.resources.load_bundled()
    emulator.resources["atende.dev/v1alpha1/bottenants"] = kmock.ResourceInfo(
        kind="BotTenant",
        singular="bottenant",
        namespaced=True,
        verbs={"list", "watch", "get", "patch", "create", "delete"},
        subresources={"status"},
    )
    async with emulator, kmock.Server(emulator) as server:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(str(server.url))))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        # The client reads $KUBECONFIG once, when imported: point its default there too.
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        yield server


async def request(server: kmock.Server, method: str, path: str, **kwargs: Any) -> Any:
    async with server.client.request(method, path, **kwargs) as response:
        if response.status == 404:
            return None
        assert response.status < 300, (method, path, response.status, await response.text())
        return await response.json(content_type=None)


@asynccontextmanager
async def running_operator(database_url: str, liveness: str | None = None) -> AsyncIterator[None]:
    """``operate()`` in its own thread and event loop (as in its pod), stopped on exit."""
    settings = Settings(
        database_url=database_url, secret_key=SecretStr(SECRET_KEY), log_format="console"
    )
    stop, ready = threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(operate(settings, liveness=liveness, stop_flag=stop, ready_flag=ready))
        except BaseException as exc:  # surfaced below
            failure.append(exc)

    thread = threading.Thread(target=run, name="operator", daemon=True)
    thread.start()
    try:
        assert await asyncio.to_thread(ready.wait, 20), failure or "operator not ready"
        yield
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 20)
    assert not thread.is_alive(), "the operator did not stop"
    assert not failure, failure


async def status_of(api: kmock.Server, name: str) -> dict[str, Any]:
    obj = await request(api, "GET", f"{BOTTENANTS}/{name}")
    return dict(obj.get("status") or {}) if obj else {}


async def test_the_operator_reconciles_rotates_and_disables(
    api: kmock.Server, database_url: str, clean_db: SessionMaker
) -> None:
    cipher = CredentialCipher(SECRET_KEY)
    liveness = f"http://127.0.0.1:{free_port()}/healthz"
    async with running_operator(database_url, liveness):

        async def tenant() -> Tenant | None:
            async with clean_db() as session:
                return await session.scalar(select(Tenant).where(Tenant.slug == "acme"))

        # Create: a Secret, then the BotTenant → a tenant row and status Ready.
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "acme", "namespace": NS, "labels": OPTED_IN},
        }
        await request(api, "POST", SECRETS, json={**secret, "stringData": secret_data()})
        await request(api, "POST", BOTTENANTS, json=bottenant(namespace=NS, generation=1))

        async def ready_status() -> dict[str, Any] | None:
            current = await status_of(api, "acme")
            return current if current.get("phase") == "Ready" else None

        current = await eventually(ready_status, "status.phase Ready")
        assert current["observedGeneration"] == 1
        assert current["webhookSecretRef"] == {"name": "acme", "key": "webhook-secret"}
        row = await eventually(tenant, "the tenant row")
        assert (row.source, row.enabled) == (f"{NS}/acme", True)
        assert cipher.decrypt(row.credentials).whaticket_tokens == {"main": TOKEN}
        spec_before = (await request(api, "GET", f"{BOTTENANTS}/acme"))["spec"]

        async with aiohttp.ClientSession() as http, http.get(liveness) as probe:
            assert probe.status == 200

        # Rotate the Secret's token: the stored credentials follow, the BotTenant untouched.
        patch = {"stringData": {"whaticket-token": TOKEN_ROTATED}}
        await request(api, "PATCH", f"{SECRETS}/acme", json=patch, headers=MERGE)

        async def rotated() -> Tenant | None:
            row = await tenant()
            tokens = cipher.decrypt(row.credentials).whaticket_tokens if row else {}
            return row if tokens == {"main": TOKEN_ROTATED} else None

        row = await eventually(rotated, "the rotated token in Postgres")
        assert row.version == 2
        after = await request(api, "GET", f"{BOTTENANTS}/acme")
        assert after["spec"] == spec_before
        assert after["metadata"]["generation"] == 1
        assert TOKEN_ROTATED not in str(after)
        assert TOKEN not in str(after)

        # Delete: the finalizer disables the tenant, then lets the object go.
        await request(api, "DELETE", f"{BOTTENANTS}/acme")

        async def disabled() -> Tenant | None:
            row = await tenant()
            return row if row is not None and not row.enabled else None

        row = await eventually(disabled, "the tenant disabled")
        assert row.version == 3

        async def gone() -> bool | None:
            return True if await request(api, "GET", f"{BOTTENANTS}/acme") is None else None

        await eventually(gone, "the BotTenant released by its finalizer")


async def test_a_bottenant_waits_for_its_secret_then_the_secret_watch_applies_it(
    api: kmock.Server, database_url: str, clean_db: SessionMaker
) -> None:
    async with running_operator(database_url):
        body = bottenant(namespace=NS, generation=1)
        await request(api, "POST", BOTTENANTS, json=body)

        async def pending() -> dict[str, Any] | None:
            current = await status_of(api, "acme")
            return current if current.get("phase") == "Pending" else None

        # kopf writes the handler's status patch even though it raised TemporaryError.
        current = await eventually(pending, "status.phase Pending")
        (condition,) = current["conditions"]
        assert condition["reason"] == "SecretMissing"
        assert "spec.whaticket.connections[0].apiTokenSecretRef" in condition["message"]

        # The Secret appears: its ADDED event re-reconciles at once (the retry is 30 s away).
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "acme", "namespace": NS, "labels": OPTED_IN},
        }
        await request(api, "POST", SECRETS, json={**secret, "stringData": secret_data()})

        async def ready_status() -> dict[str, Any] | None:
            current = await status_of(api, "acme")
            return current if current.get("phase") == "Ready" else None

        await eventually(ready_status, "status.phase Ready", within=20)  # retry is 30 s away
        async with clean_db() as session:
            row = await session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert row is not None
        assert (row.source, row.enabled) == (f"{NS}/acme", True)
