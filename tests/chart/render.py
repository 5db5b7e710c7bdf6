"""Render the chart offline with Helm's own Go library (helm-sdkpy) against an in-memory
Kubernetes API (kmock): ``helm install`` with the memory storage driver, no cluster.

Helm's library reads ``HELM_DRIVER`` from the process environment when it starts, so every
render runs in a child process started with it (``python -m tests.chart.render``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "atende"
NAMESPACE = "atende"
RELEASE = "atende"
# Kinds kmock does not know, registered so that its discovery serves them (Helm fills
# .Capabilities.APIVersions from discovery) and Helm can "create" them. A bare cluster serves
# only the chart's own CRD; the default is a cluster with KEDA and prometheus-operator.
BARE_CLUSTER = {"atende.dev/v1alpha1/bottenants": "BotTenant"}
OPTIONAL_KINDS = {
    "keda.sh/v1alpha1/scaledobjects": "ScaledObject",
    "monitoring.coreos.com/v1/servicemonitors": "ServiceMonitor",
    "monitoring.coreos.com/v1/podmonitors": "PodMonitor",
    "monitoring.coreos.com/v1/prometheusrules": "PrometheusRule",
    "monitoring.coreos.com/v1alpha1/alertmanagerconfigs": "AlertmanagerConfig",
}
CUSTOM_KINDS = BARE_CLUSTER | OPTIONAL_KINDS
EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception): ")
VERBS = {"list", "watch", "get", "patch", "create", "delete", "update"}


class RenderError(Exception):
    pass


def values_file(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "ci" / name).read_text())
    return loaded


@dataclass(frozen=True)
class Installed:
    manifests: list[dict[str, Any]]
    notes: str


def render(
    values: dict[str, Any],
    tmp: Path,
    chart: Path = CHART,
    kinds: Mapping[str, str] = CUSTOM_KINDS,
) -> list[dict[str, Any]]:
    """The manifests ``helm install`` would apply (hooks included), as dicts."""
    return install(values, tmp, chart, kinds).manifests


def install(
    values: dict[str, Any],
    tmp: Path,
    chart: Path = CHART,
    kinds: Mapping[str, str] = CUSTOM_KINDS,
) -> Installed:
    """``helm install`` into an in-memory API serving ``kinds`` (resource path → Kind) besides
    the built-in ones: its manifests and its NOTES.txt."""
    request = tmp / "values.json"
    request.write_text(json.dumps({"values": values, "kinds": dict(kinds)}))
    done = subprocess.run(
        [sys.executable, "-m", "tests.chart.render", str(request), str(tmp), str(chart)],
        env=os.environ | {"HELM_DRIVER": "memory"},
        cwd=CHART.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RenderError(_error(done.stderr))
    rendered = json.loads(done.stdout)
    return Installed(rendered["manifests"], rendered["notes"])


def _error(stderr: str) -> str:
    """Helm's message: the raised exception's text, which may span lines, without the
    traceback above it."""
    lines = stderr.strip().splitlines()
    starts = [i for i, line in enumerate(lines) if EXCEPTION_LINE.match(line)]
    return "\n".join(lines[starts[-1] :]) if starts else "\n".join(lines[-1:]) or "failed"


def hooks_as_plain_resources(tmp: Path) -> Path:
    """A copy of the chart whose hook annotations are renamed, so that the hooks render like
    any resource (the in-memory API cannot serve the OpenAPI document Helm checks hooks with);
    their values stay readable under ``test.atende/hook*``."""
    copy = tmp / "chart"
    shutil.copytree(CHART, copy)
    migrations = copy / "templates" / "migrations.yaml"
    migrations.write_text(migrations.read_text().replace("helm.sh/hook", "test.atende/hook"))
    return copy


def of_kind(manifests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m.get("kind") == kind]


def named(manifests: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name)


async def _install(
    values: dict[str, Any], kinds: dict[str, str], tmp: Path, chart: Path
) -> dict[str, Any]:
    import helm_sdkpy
    import kmock

    from tests.fixtures.kube import kubeconfig as kubeconfig_for

    class Emulator(kmock.KubernetesEmulator):
        """kmock answers ``/api/v1`` discovery with ``groupVersion: "/v1"``, and Helm's REST
        mapper then knows no core kind; served as ``v1``, as a real API server does."""

        async def _serve_version(self, request: Any) -> Any:
            payload = await super()._serve_version(request)
            if isinstance(payload, dict) and str(payload.get("groupVersion", "")).startswith("/"):
                payload["groupVersion"] = payload["groupVersion"][1:]
            return payload

    emulator = Emulator()
    emulator.resources.load_bundled()
    for resource, kind in kinds.items():
        emulator.resources[resource] = kmock.ResourceInfo(
            kind=kind, singular=kind.lower(), namespaced=True, verbs=VERBS
        )
    async with emulator, kmock.Server(emulator) as server:
        kubeconfig = tmp / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(kubeconfig_for(str(server.url))))
        config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=str(kubeconfig))
        release = await helm_sdkpy.Install(config).run(
            RELEASE, str(chart), values=values, wait=False
        )
    texts = [release.get("manifest", "")]
    texts += [hook.get("manifest", "") for hook in release.get("hooks") or []]
    manifests = [doc for text in texts for doc in yaml.safe_load_all(text) if doc]
    return {"manifests": manifests, "notes": (release.get("info") or {}).get("notes", "")}


def lint(chart: Path) -> dict[str, Any]:
    """``helm lint`` (the chart's own values.yaml): its messages, 3 = error."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.chart.render", "--lint", str(chart)],
        cwd=CHART.parents[1],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def _lint(chart: Path) -> dict[str, Any]:
    import helm_sdkpy

    result: dict[str, Any] = await helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(chart))
    return result


if __name__ == "__main__":
    if sys.argv[1] == "--lint":
        print(json.dumps(asyncio.run(_lint(Path(sys.argv[2]))), default=str))
    else:
        request_path, work, chart_dir = (Path(arg) for arg in sys.argv[1:4])
        request = json.loads(request_path.read_text())
        installed = asyncio.run(_install(request["values"], request["kinds"], work, chart_dir))
        print(json.dumps(installed))
