"""Kubelet in a box: the chart rendered by Helm's library for each CI scenario and the bare
defaults, then every Job run to completion and every Deployment's container started with exactly
what its manifest gives it (tests/chart/kubelet.py says how, and where it deviates), against the
tests' real Postgres and Redis, and probed at the manifest's paths and ports.

The operator reaches an in-memory Kubernetes API (tests/chart/apiserver.py). A kubelet gives
in-cluster config through KUBERNETES_SERVICE_HOST/PORT (injected, pointing at that API) and the
service account token at /var/run/secrets/kubernetes.io/serviceaccount/token; that path is the
machine's own and the API speaks plain HTTP, so the token file is absent (the client's in-cluster
loader fails) and the operator container is given KUBECONFIG naming the API instead: the one
variable added beyond the manifest.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import pytest
import pytest_asyncio
import yaml

from tests.fixtures import kube
from tests.fixtures.servers import PostgresHandle, scratch_database
from tests.operator.conftest import bottenant, secret_data

from .apiserver import ApiServer
from .kubelet import Image, Kubelet, Objects, current_image, of_kinds
from .render import CUSTOM_KINDS, NAMESPACE, hooks_as_plain_resources, render, values_file

pytestmark = [
    pytest.mark.timeout(400),
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]

SECRET_KEY = "kubelet-box-secret-key-0123456789abcdef"
# The bound on a pod's probes passing: kubelets have none, a rollout's progressDeadlineSeconds
# (600 s by default) would fail long after this.
READY_WITHIN = 90.0
TENANTS = "tenants"  # watched in every scenario (all namespaces, or operator.watchNamespaces)
BOTTENANTS = f"/apis/atende.dev/v1alpha1/namespaces/{TENANTS}/bottenants"


def hook_events(manifest: dict[str, Any]) -> set[str]:
    annotations = manifest["metadata"].get("annotations") or {}
    hooks = annotations.get("helm.sh/hook") or annotations.get("test.atende/hook") or ""
    return {h.strip() for h in hooks.split(",") if h.strip()}


def hook_weight(manifest: dict[str, Any]) -> int:
    annotations = manifest["metadata"].get("annotations") or {}
    weight = annotations.get("helm.sh/hook-weight") or annotations.get("test.atende/hook-weight")
    return int(weight or 0)


def existing_secret(name: str, values: dict[str, str]) -> dict[str, Any]:
    """A Secret made outside the release (External Secrets, Vault), as the API server holds it."""
    data = {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": data,
    }


@pytest_asyncio.fixture(loop_scope="session")
async def database(postgres: PostgresHandle) -> AsyncIterator[str]:
    """An empty database for the release (the hook migrates it), dropped afterwards."""
    async with scratch_database(postgres, "atende_kubelet") as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def api_server(tmp_path: Path) -> AsyncIterator[tuple[kmock.Server, Path]]:
    emulator = ApiServer.with_kinds(CUSTOM_KINDS)
    async with emulator, kmock.Server(emulator) as server:
        kubeconfig = tmp_path / "cluster-kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(kube.kubeconfig(str(server.url))))
        yield server, kubeconfig


def scenario_values(
    name: str | None, database_url: str, redis_url: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The scenario's values with its secrets pointing at the tests' servers, and the Secret
    an ``existingSecret`` scenario expects to find."""
    values: dict[str, Any] = values_file(name) if name else {}
    values["helmTest"] = {"prometheusWaitSeconds": 0}  # no Prometheus in the box for KEDA's query
    secrets = {
        "ATENDE_DATABASE_URL": database_url,
        "ATENDE_REDIS_URL": redis_url,
        "ATENDE_SECRET_KEY": SECRET_KEY,
    }
    if values.get("existingSecret"):
        return values, [existing_secret(values["existingSecret"], secrets)]
    values["secrets"] = {
        "databaseUrl": database_url,
        "redisUrl": redis_url,
        "secretKey": SECRET_KEY,
        **({"cacheRedisUrl": redis_url} if "cacheRedisUrl" in values.get("secrets", {}) else {}),
    }
    return values, []


@pytest.mark.parametrize(
    "scenario", [None, "keda-values.yaml", "hpa-values.yaml", "none-values.yaml"],
    ids=["defaults", "keda", "hpa", "none"],
)  # fmt: skip
async def test_every_workload_starts_and_passes_its_probes(
    scenario: str | None,
    database: str,
    redis_url: str,
    api_server: tuple[kmock.Server, Path],
    tmp_path: Path,
) -> None:
    """Hook Jobs (migrations first, by weight) exit 0; then the Deployments' pods, started
    together as a rollout starts them, become ready and stay alive on their probes; then the
    helm test Pod, if the chart has one, exits 0 against them."""
    server, kubeconfig = api_server
    values, given = scenario_values(scenario, database, redis_url)
    rendering = tmp_path / "render"
    rendering.mkdir()
    manifests = render(values, rendering, hooks_as_plain_resources(rendering))
    image: Image = current_image()
    images = {c["image"]: image for m in manifests for c in _containers(m)}
    objects = Objects(
        manifests + given, NAMESPACE, server.url.host or "127.0.0.1", server.url.port or 80
    )
    kubelet = Kubelet(
        objects, images, tmp_path / "pods", extra_env={"operator": {"KUBECONFIG": str(kubeconfig)}}
    )

    jobs = sorted(
        (
            j
            for j in of_kinds(manifests, "Job")
            if {"pre-install", "post-install"} & hook_events(j) or not hook_events(j)
        ),
        key=lambda j: ("post-install" in hook_events(j), hook_weight(j)),
    )
    assert jobs, "the chart renders no migration Job"
    for job in jobs:
        outcome = await kubelet.run_job(job)
        assert outcome.succeeded, (
            f"Job {job['metadata']['name']} failed ({outcome.reason}):\n{outcome.describe()}"
        )

    deployments = of_kinds(manifests, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} >= {"atende-api", "atende-worker"}
    async with contextlib.AsyncExitStack() as pods:
        started = [await pods.enter_async_context(kubelet.running(d)) for d in deployments]
        await asyncio.gather(*(pod.become_ready(READY_WITHIN) for pod in started))
        if any(d["metadata"]["name"].endswith("-operator") for d in deployments):
            await tenant_reconciled(server)
        for test_pod in (p for p in of_kinds(manifests, "Pod") if "test" in hook_events(p)):
            tester = await pods.enter_async_context(kubelet.running(test_pod))
            assert await tester.wait(120) == 0, f"helm test pod failed:\n{tester.logs()}"


async def test_an_existing_secret_without_a_required_key_keeps_the_pods_from_starting(
    tmp_path: Path,
) -> None:
    """With ``existingSecret`` lacking ATENDE_SECRET_KEY the kubelet refuses to start the api
    (CreateContainerConfigError, naming the key); an absent optional key (Gemini's) is unset."""
    values = values_file("hpa-values.yaml")
    manifests = render(values, tmp_path, hooks_as_plain_resources(tmp_path))
    partial = {
        "ATENDE_DATABASE_URL": "postgresql://db/atende",
        "ATENDE_REDIS_URL": "redis://r:6379/0",
    }
    secret = existing_secret(values["existingSecret"], partial)
    api = next(
        d for d in of_kinds(manifests, "Deployment") if d["metadata"]["name"] == "atende-api"
    )
    images = {c["image"]: current_image() for c in _containers(api)}
    kubelet = Kubelet(Objects([*manifests, secret], NAMESPACE), images, tmp_path / "pods")
    with pytest.raises(
        AssertionError, match=f"key ATENDE_SECRET_KEY in Secret {values['existingSecret']}"
    ):
        kubelet.environment(api)

    secret["data"]["ATENDE_SECRET_KEY"] = base64.b64encode(SECRET_KEY.encode()).decode()
    env = Kubelet(Objects([*manifests, secret], NAMESPACE), images, tmp_path / "pods").environment(
        api
    )
    assert env["ATENDE_SECRET_KEY"] == SECRET_KEY
    assert env["ATENDE_REDIS_URL"] == "redis://r:6379/0"
    assert "ATENDE_GEMINI_API_KEY" not in env
    assert env["HOSTNAME"].startswith("atende-api-")
    assert env["ATENDE_API_SERVICE_PORT_HTTP"] == "80"


async def tenant_reconciled(server: kmock.Server, within: float = 45) -> None:
    """The operator pod, through the API it was given, turns a BotTenant into a tenant: its
    status reads Ready (written after the tenant row is stored in Postgres)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "acme", "namespace": TENANTS, "labels": {"atende.dev/tenant": "acme"}},
        "stringData": secret_data(),
    }
    await _call(server, "POST", f"/api/v1/namespaces/{TENANTS}/secrets", secret)
    await _call(server, "POST", BOTTENANTS, bottenant(namespace=TENANTS))
    deadline = time.monotonic() + within
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = (await _call(server, "GET", f"{BOTTENANTS}/acme")).get("status") or {}
        if status.get("phase") == "Ready":
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the operator pod did not reconcile the BotTenant: status {status}")


async def _call(server: kmock.Server, method: str, path: str, body: Any = None) -> Any:
    async with server.client.request(method, path, json=body) as response:
        assert response.status < 300, (method, path, response.status, await response.text())
        return await response.json(content_type=None)


def _containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    spec = manifest.get("spec") or {}
    pod = spec.get("template", {}).get("spec") if "template" in spec else spec
    return list((pod or {}).get("containers") or [])
