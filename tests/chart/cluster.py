"""A cluster in a box for Helm's release operations: Helm's own library (helm-sdkpy) installs,
upgrades and rolls back the chart against the in-memory API (tests/chart/apiserver.py), and a Job
controller runs every Job Helm creates through the kubelet (tests/chart/kubelet.py), then writes
the Job's status conditions as Kubernetes' Job controller does, so Helm sees its hooks finish.

Deployments are applied but not run (their pods are tests/chart/test_kubelet.py's): Helm does not
wait for them here (``wait=False``), only for hooks, as ``helm upgrade`` without ``--wait`` does.

Helm's library reads ``HELM_DRIVER`` when it loads, so this runs as its own process
(``python -m tests.chart.cluster REQUEST.json``); it prints one result per operation.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .apiserver import ApiServer
from .kubelet import Image, Kubelet, Objects, PodStartError, image
from .render import CHART, CUSTOM_KINDS, NAMESPACE, RELEASE


def run_operations(
    request: dict[str, Any], tmp: Path, timeout: float = 400
) -> list[dict[str, Any]]:
    """Run ``request``'s operations in a child process; one result per operation.

    ``request``: ``images`` (image reference → bin directory of an ``Image``) and
    ``operations``: ``{"op": "install" | "upgrade", "values": …}`` or
    ``{"op": "rollback", "revision": N}`` (its hooks: see ``rollback_hooks``), and optionally
    ``database_url``; each result has ``error`` (or None), the release's ``status`` and
    ``revision`` after it, the ``jobs`` the controller ran meanwhile and the ``schema``
    revision."""
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "operations.json"
    path.write_text(json.dumps({**request, "workdir": str(tmp)}))
    done = subprocess.run(
        [sys.executable, "-m", "tests.chart.cluster", str(path)],
        env=os.environ | {"HELM_DRIVER": "memory"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


class JobController:
    """Runs each Job the API server holds without a status, once, and records the outcome."""

    def __init__(self, server: ApiServer, images: dict[str, Image], workdir: Path) -> None:
        self.server = server
        self.images = images
        self.workdir = workdir
        self.ran: list[dict[str, Any]] = []
        self._running: set[tuple[Any, str | None, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        while True:
            for key, obj in list(self.server.objects.items()):
                if key[0].plural != "jobs" or obj.deleted or obj.raw.get("status"):
                    continue
                if key not in self._running:
                    self._running.add(key)
                    task = asyncio.create_task(self._complete(key, dict(obj.raw)))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
            await asyncio.sleep(0.2)

    async def _complete(self, key: tuple[Any, str | None, str], job: dict[str, Any]) -> None:
        resource, namespace, name = key
        live = [o.raw for o in self.server.objects.values() if not o.deleted]
        kubelet = Kubelet(Objects(live, namespace or NAMESPACE), self.images, self.workdir / "pods")
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {"name": name, "args": _args(job), "image": _image(job)}
        try:
            try:
                outcome = await kubelet.run_job(job)
            except PodStartError as exc:  # the pod stays Pending: the Job stays active
                self.ran.append({**record, "succeeded": False, "log": str(exc)})
                await self.server.write_status(
                    resource, namespace, name, {"active": 1, "startTime": now}
                )
                return
            await self.server.write_status(resource, namespace, name, outcome.status(now))
            self.ran.append({**record, "succeeded": outcome.succeeded, "log": outcome.describe()})
        finally:
            self._running.discard(key)


PLURALS = {"ServiceAccount": "serviceaccounts", "ConfigMap": "configmaps", "Secret": "secrets"}


def _path(kind: str, name: str | None = None) -> str:
    base = (
        f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
        if kind == "Job"
        else f"/api/v1/namespaces/{NAMESPACE}/{PLURALS[kind]}"
    )
    return f"{base}/{name}" if name else base


async def rollback_hooks(http: Any, server: ApiServer, release: dict[str, Any]) -> None:
    """What ``helm rollback`` does with the hooks of the release it goes back to
    (helm/helm pkg/action/rollback.go, hooks.go execHook): its ``pre-rollback`` hooks by weight
    then name, each replacing its predecessor (before-hook-creation), a Job waited for until
    its Complete or Failed condition, those with ``hook-succeeded`` deleted after all passed.

    Helm's own rollback cannot run here: helm-sdkpy 0.1.32 builds ``action.NewRollback`` with no
    wait strategy, and Helm 4 refuses it ("wait strategy not set"), so the new release revision
    and the re-applied manifests of a rollback are not exercised, only its hooks."""
    hooks = sorted(
        (h for h in release.get("hooks") or [] if "pre-rollback" in h.get("events", [])),
        key=lambda h: (h.get("weight", 0), h["name"]),
    )
    for hook in hooks:
        manifest = yaml.safe_load(hook["manifest"])
        manifest["metadata"]["namespace"] = NAMESPACE
        if "before-hook-creation" in hook.get("delete_policies", ["before-hook-creation"]):
            async with http.client.delete(_path(hook["kind"], hook["name"])):
                pass
        async with http.client.post(_path(hook["kind"]), json=manifest) as created:
            assert created.status < 300, await created.text()
        if hook["kind"] == "Job":
            await _job_finished(server, hook["name"])
    for hook in hooks:
        if "hook-succeeded" in hook.get("delete_policies", []):
            async with http.client.delete(_path(hook["kind"], hook["name"])):
                pass


async def _job_finished(server: ApiServer, name: str, within: float = 300) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        for (resource, _, found), obj in list(server.objects.items()):
            if resource.plural != "jobs" or found != name or obj.deleted:
                continue
            conditions = {c["type"] for c in (obj.raw.get("status") or {}).get("conditions", [])}
            if "Failed" in conditions:
                raise RuntimeError(f"pre-rollback hook {name} failed")
            if "Complete" in conditions:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"pre-rollback hook {name} did not finish")


async def _schema_revision(url: str | None) -> str | None:
    if url is None:
        return None
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return str(found.scalar_one())
    finally:
        await engine.dispose()


def _container(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


def _args(job: dict[str, Any]) -> list[str]:
    return list(_container(job).get("args") or [])


def _image(job: dict[str, Any]) -> str:
    return str(_container(job)["image"])


async def _operate(request: dict[str, Any]) -> list[dict[str, Any]]:
    import helm_sdkpy
    import kmock

    from tests.fixtures.kube import kubeconfig

    workdir = Path(request["workdir"])
    images = {ref: image(Path(bin_dir)) for ref, bin_dir in request["images"].items()}
    server = ApiServer.with_kinds(CUSTOM_KINDS)
    results: list[dict[str, Any]] = []
    async with server, kmock.Server(server) as http:
        config_path = workdir / "kubeconfig"
        config_path.write_text(yaml.safe_dump(kubeconfig(str(http.url))))
        config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=str(config_path))
        controller = JobController(server, images, workdir)
        running = asyncio.create_task(controller.run())
        chart = request.get("chart") or str(CHART)
        for operation in request["operations"]:
            before = len(controller.ran)
            error = None
            try:
                if operation["op"] == "install":
                    await helm_sdkpy.Install(config).run(
                        RELEASE, chart, values=operation["values"], wait=False, timeout=120
                    )
                elif operation["op"] == "upgrade":
                    await helm_sdkpy.Upgrade(config).run(
                        RELEASE, chart, values=operation["values"], wait=False, timeout=120,
                        server_side_apply=False,
                    )  # fmt: skip
                else:
                    history = await helm_sdkpy.History(config).run(RELEASE)
                    target = next(r for r in history if r["version"] == operation["revision"])
                    await rollback_hooks(http, server, target)
            except Exception as exc:  # Helm's error is the result
                error = str(exc)
            status = await helm_sdkpy.Status(config).run(RELEASE)
            results.append({
                "op": operation["op"], "error": error, "status": status["info"]["status"],
                "revision": status["version"], "jobs": controller.ran[before:],
                "schema": await _schema_revision(request.get("database_url")),
            })  # fmt: skip
        running.cancel()
    return results


if __name__ == "__main__":
    operations = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(_operate(operations)), default=str))
