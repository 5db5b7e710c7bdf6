"""A kubelet in a box: a rendered Deployment's or Job's container started as a local process,
with the environment, arguments, ports and volumes its manifest gives it, and probed as a kubelet
probes it.

What it follows (upstream documentation):

- Command and arguments: the image's ENTRYPOINT and CMD from the Dockerfile, replaced by the
  container's ``command``/``args`` as
  https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes
  says; ``$(VAR)`` references expanded, ``$$`` escaping.
- Environment: the image's ENV (Dockerfile), under the container's ``envFrom`` then ``env``
  (``env`` wins; ``secretKeyRef``/``configMapKeyRef`` from the rendered or given objects,
  Secrets' ``stringData`` and base64 ``data``; an ``optional`` key that is absent leaves the
  variable unset, a missing non-optional one keeps the pod from starting,
  https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-environment-variables),
  ``fieldRef`` from the pod, and what the kubelet adds
  (https://kubernetes.io/docs/concepts/containers/container-environment/): ``HOSTNAME`` = the
  pod's name, and for every Service of the namespace and the ``kubernetes`` Service,
  ``{SVC}_SERVICE_HOST``/``_SERVICE_PORT`` and the Docker-links variables
  (https://kubernetes.io/docs/concepts/services-networking/service/#environment-variables),
  never over a variable the container defines.
- Probes: ``httpGet`` (path, port by number or by the container port's name; 200-399 passes)
  and ``tcpSocket``, first after ``initialDelaySeconds``, then every ``periodSeconds``, each
  with ``timeoutSeconds``; ``failureThreshold`` failed liveness probes in a row mean the kubelet
  would restart the container
  (https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/#configure-probes).
- Jobs: a failed pod is retried up to ``backoffLimit`` times within ``activeDeadlineSeconds``,
  and the Job's status gets the conditions the Job controller writes: ``SuccessCriteriaMet`` then
  ``Complete``, or ``FailureTarget`` then ``Failed``
  (https://kubernetes.io/docs/concepts/workloads/controllers/job/#job-termination-and-cleanup).

Where a process on this machine cannot be a container, it deviates, and says so here:

- The pod's network namespace is the machine's: the pod listens on its container ports on this
  machine (one pod at a time; a port held by something else fails the test) and probes go to
  127.0.0.1. Cluster IPs of Services are made up (they are only read as text).
- Files: the image is a source tree (``Image``) whose venv stands for ``/opt/atende``; each
  ``emptyDir`` (and the image's WORKDIR) is a fresh directory, and environment values naming a
  mount path (ATENDE_DATA_DIR=/var/lib/atende) are rewritten to it; a ``/tmp`` mount is given as
  TMPDIR; HOME is the pod's own directory. ``runAsUser`` and ``readOnlyRootFilesystem`` are
  not enforced: the process runs as the test's user.
- A failed Job pod is retried at once, without the Job controller's back-off delay (10 s,
  doubling); resource requests and limits are not applied.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_VENV = "/opt/atende"  # the Dockerfile's `python -m venv /opt/atende`
SOURCE_DIRS = ("services", "operator", "migrations", "k8s")


class PodStartError(AssertionError):
    """The kubelet could not start the container (CreateContainerConfigError and the like)."""


class ProbeFailed(AssertionError):
    """A probe failed as a kubelet would act on: never ready, or restarted by liveness."""


@dataclass(frozen=True)
class Image:
    """A container image: the Dockerfile's runtime stage (ENTRYPOINT, CMD, ENV, WORKDIR) over a
    source tree whose ``bin`` stands for the image's venv."""

    entrypoint: list[str]
    cmd: list[str]
    env: dict[str, str]
    workdir: str
    bin_dir: Path

    def host_path(self, path: str) -> str:
        return path.replace(f"{IMAGE_VENV}/bin", str(self.bin_dir))


def _runtime_stage(text: str) -> list[tuple[str, str]]:
    """(instruction, argument) of the last stage, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    instructions = [
        tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")
    ]
    last_from = max(i for i, ins in enumerate(instructions) if ins[0].upper() == "FROM")
    return [(ins[0].upper(), ins[1] if len(ins) > 1 else "") for ins in instructions[last_from:]]


def _exec_form(argument: str) -> list[str]:
    import json

    parsed = json.loads(argument) if argument.startswith("[") else ["/bin/sh", "-c", argument]
    return [str(part) for part in parsed]


def image(bin_dir: Path, dockerfile: Path = DOCKERFILE) -> Image:
    """The image the Dockerfile builds, its venv being ``bin_dir``'s parent."""
    env: dict[str, str] = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"}
    entrypoint: list[str] = []
    cmd: list[str] = []
    workdir = "/"
    for instruction, argument in _runtime_stage(dockerfile.read_text()):
        if instruction == "ENV":
            for pair in shlex.split(argument):
                name, _, value = pair.partition("=")
                env[name] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        elif instruction == "ENTRYPOINT":
            entrypoint, cmd = _exec_form(argument), []  # a new ENTRYPOINT resets CMD
        elif instruction == "CMD":
            cmd = _exec_form(argument)
        elif instruction == "WORKDIR":
            workdir = argument
    return Image(entrypoint, cmd, env, workdir, bin_dir)


def current_image() -> Image:
    """This checkout, as the image built from it."""
    return image(ROOT / ".venv" / "bin")


def image_with_revisions(tmp: Path, revisions: Mapping[str, str]) -> Image:
    """This checkout plus migration scripts (file name → source): a newer image. Its ``atende``
    runs this venv's Python on the copied sources."""
    tree = tmp / "src"
    for name in SOURCE_DIRS:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    for filename, source in revisions.items():
        (tree / "migrations" / "versions" / filename).write_text(source)
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "atende"
    launcher.write_text(
        f"#!{ROOT / '.venv' / 'bin' / 'python'}\n"
        "import sys\n"
        f"sys.path[:0] = [{str(tree)!r}, {str(tree / 'operator')!r}]\n"
        "from services.cli.main import cli\n"
        "sys.exit(cli())\n"
    )
    launcher.chmod(0o755)
    return image(bin_dir)


# --- the cluster's objects -------------------------------------------------------------------


@dataclass
class Objects:
    """What the API server holds for the pods' namespace: rendered manifests and given ones."""

    items: list[dict[str, Any]]
    namespace: str
    api_host: str = "10.96.0.1"
    api_port: int = 443

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        for item in self.items:
            if item.get("kind") == kind and item["metadata"]["name"] == name:
                return item
        return None

    def data(self, kind: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's or Secret's keys as text (a Secret's base64 ``data`` decoded, its
        ``stringData`` merged over it as the API server does)."""
        obj = self.get(kind, name)
        if obj is None:
            return None
        values = dict(obj.get("data") or {})
        if kind == "Secret":
            values = {k: base64.b64decode(v).decode() for k, v in values.items()}
        return {**values, **{k: str(v) for k, v in (obj.get("stringData") or {}).items()}}

    def services(self) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """(name, cluster IP, ports) of every Service pods of the namespace are told about."""
        found = [("kubernetes", self.api_host, [{"name": "https", "port": self.api_port}])]
        for svc in self.service_objects():
            found.append((svc["metadata"]["name"], self.cluster_ip(svc), svc["spec"]["ports"]))
        return found

    def service_objects(self) -> list[dict[str, Any]]:
        return [
            s for s in self.items
            if s.get("kind") == "Service" and (s.get("spec") or {}).get("clusterIP") != "None"
        ]  # fmt: skip

    def cluster_ip(self, service: Mapping[str, Any]) -> str:
        """A loopback address of its own per Service (127.0.0.0/8 is all loopback on Linux),
        where ``ServiceProxy`` listens on the Service's ports."""
        names = sorted(s["metadata"]["name"] for s in self.service_objects())
        return f"127.0.1.{names.index(service['metadata']['name']) + 10}"

    def hosts_file(self, pod: str) -> str:
        """/etc/hosts for a pod: its own name, and every Service by the names cluster DNS
        answers (https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/)."""
        lines = ["127.0.0.1\tlocalhost", f"127.0.0.1\t{pod}"]
        for svc in self.service_objects():
            name, ns = svc["metadata"]["name"], self.namespace
            aliases = [name, f"{name}.{ns}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"]
            lines.append(f"{self.cluster_ip(svc)}\t{' '.join(aliases)}")
        return "\n".join(lines) + "\n"


def service_variables(objects: Objects) -> dict[str, str]:
    variables: dict[str, str] = {}
    for name, ip, ports in objects.services():
        prefix = name.upper().replace("-", "_")
        first = ports[0]
        variables[f"{prefix}_SERVICE_HOST"] = ip
        variables[f"{prefix}_SERVICE_PORT"] = str(first["port"])
        variables[f"{prefix}_PORT"] = (
            f"{first.get('protocol', 'TCP').lower()}://{ip}:{first['port']}"
        )
        for port in ports:
            protocol = port.get("protocol", "TCP")
            if port.get("name"):
                key = port["name"].upper().replace("-", "_")
                variables[f"{prefix}_SERVICE_PORT_{key}"] = str(port["port"])
            link = f"{prefix}_PORT_{port['port']}_{protocol}"
            variables[link] = f"{protocol.lower()}://{ip}:{port['port']}"
            variables[f"{link}_PROTO"] = protocol.lower()
            variables[f"{link}_PORT"] = str(port["port"])
            variables[f"{link}_ADDR"] = ip
    return variables


def expand(value: str, defined: Mapping[str, str]) -> str:
    """``$(VAR)`` from what is defined (left as is otherwise), ``$$`` as ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, value)


@dataclass
class PodIdentity:
    name: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    service_account: str


def _field(pod: PodIdentity, path: str) -> str:
    simple = {
        "metadata.name": pod.name,
        "metadata.namespace": pod.namespace,
        "metadata.uid": f"uid-{pod.name}",
        "spec.nodeName": "box",
        "spec.serviceAccountName": pod.service_account,
        "status.podIP": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
    }
    if path in simple:
        return simple[path]
    if match := re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path):
        source = pod.labels if match.group(1) == "labels" else pod.annotations
        return source.get(match.group(2), "")
    raise PodStartError(f"pod {pod.name}: fieldRef {path} is not supported by a kubelet")


def _key_ref(objects: Objects, pod: str, kind: str, ref: Mapping[str, Any]) -> str | None:
    values = objects.data(kind, ref["name"])
    if values is None or ref["key"] not in values:
        if ref.get("optional"):
            return None
        missing = (
            f"{kind} {ref['name']}"
            if values is None
            else f"key {ref['key']} in {kind} {ref['name']}"
        )
        raise PodStartError(f"pod {pod} would not start: {missing} does not exist")
    return values[ref["key"]]


def container_environment(
    objects: Objects, pod: PodIdentity, container: Mapping[str, Any]
) -> dict[str, str]:
    """The variables the container defines (envFrom, then env), kubelet-resolved."""
    defined: dict[str, str] = {}
    services = service_variables(objects)
    for source in container.get("envFrom") or []:
        kind, ref = (
            ("ConfigMap", source["configMapRef"])
            if "configMapRef" in source
            else ("Secret", source["secretRef"])
        )
        values = objects.data(kind, ref["name"])
        if values is None:
            if ref.get("optional"):
                continue
            raise PodStartError(
                f"pod {pod.name} would not start: {kind} {ref['name']} does not exist"
            )
        prefix = source.get("prefix", "")
        defined.update({prefix + k: v for k, v in values.items()})
    for entry in container.get("env") or []:
        value: str | None
        if "value" in entry or "valueFrom" not in entry:
            value = expand(str(entry.get("value", "")), {**services, **defined})
        elif "secretKeyRef" in entry["valueFrom"]:
            value = _key_ref(objects, pod.name, "Secret", entry["valueFrom"]["secretKeyRef"])
        elif "configMapKeyRef" in entry["valueFrom"]:
            value = _key_ref(objects, pod.name, "ConfigMap", entry["valueFrom"]["configMapKeyRef"])
        elif "fieldRef" in entry["valueFrom"]:
            value = _field(pod, entry["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            raise PodStartError(f"pod {pod.name}: {entry['valueFrom']} is not supported here")
        if value is None:
            defined.pop(entry["name"], None)
        else:
            defined[entry["name"]] = value
    return defined


# --- pods ------------------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # where the pod will listen
        except OSError:
            return False
    return True


@dataclass
class Pod:
    """A running container of a pod."""

    name: str
    container: dict[str, Any]
    process: asyncio.subprocess.Process
    log: Path
    grace_seconds: float
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def logs(self, last: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-last:])

    def port(self, port: int | str) -> int:
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for declared in self.container.get("ports") or []:
            if declared.get("name") == port:
                return int(declared["containerPort"])
        raise ProbeFailed(f"pod {self.name}: probe port {port!r} names no container port")

    async def check(self, probe: Mapping[str, Any]) -> bool:
        timeout = float(probe.get("timeoutSeconds", 1))
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = str(get.get("scheme", "HTTP")).lower()
            url = f"{scheme}://127.0.0.1:{self.port(get['port'])}{get.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            try:
                async with httpx.AsyncClient(
                    timeout=timeout, verify=False
                ) as client:  # kubelets do not verify
                    answer = await client.get(url, headers=headers)
            except httpx.HTTPError:
                return False
            return 200 <= answer.status_code < 400
        if "tcpSocket" in probe:
            try:
                _, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.port(probe["tcpSocket"]["port"])),
                    timeout,
                )
            except (OSError, TimeoutError):
                return False
            writer.close()
            return True
        raise ProbeFailed(f"pod {self.name}: probe {dict(probe)} is of a kind not emulated")

    def _exited(self) -> str | None:
        if self.process.returncode is None:
            return None
        return f"pod {self.name} exited with {self.process.returncode}:\n{self.logs()}"

    async def become_ready(self, within: float) -> None:
        """Readiness reached and liveness never failing ``failureThreshold`` times in a row,
        probed on the manifest's schedule, within ``within`` seconds."""
        readiness = self.container.get("readinessProbe")
        liveness = self.container.get("livenessProbe")
        if readiness is None and liveness is None:
            raise ProbeFailed(f"pod {self.name}: no probe to check")
        started = time.monotonic()
        results = await asyncio.gather(
            *(
                self._probe_until_passing(kind, probe, started + within)
                for kind, probe in (("readiness", readiness), ("liveness", liveness))
                if probe is not None
            )
        )
        assert all(results)

    async def _probe_until_passing(
        self, kind: str, probe: Mapping[str, Any], deadline: float
    ) -> bool:
        period = float(probe.get("periodSeconds", 10))
        threshold = int(probe.get("failureThreshold", 3))
        needed = int(probe.get("successThreshold", 1))
        await asyncio.sleep(float(probe.get("initialDelaySeconds", 0)))
        failures = passes = 0
        while True:
            if exited := self._exited():
                raise ProbeFailed(exited)
            if await self.check(probe):
                passes, failures = passes + 1, 0
                if passes >= needed:
                    return True
            else:
                passes, failures = 0, failures + 1
                if kind == "liveness" and failures >= threshold:
                    raise ProbeFailed(
                        f"pod {self.name}: liveness failed {failures} times in a row at "
                        f"{probe}: the kubelet would restart it\n{self.logs()}"
                    )
            if time.monotonic() + period > deadline:
                raise ProbeFailed(
                    f"pod {self.name}: {kind} probe {dict(probe)} not passing within the test's "
                    f"bound\n{self.logs()}"
                )
            await asyncio.sleep(period)

    async def wait(self, within: float) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.stop()
            raise

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the pod's grace period (bounded for the test)."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), min(self.grace_seconds, 20))
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()


def with_hosts_file(hosts: Path, argv: list[str]) -> list[str]:
    """``argv`` in a mount namespace of its own whose /etc/hosts is ``hosts`` (the kubelet
    writes each pod's /etc/hosts; the names of Services stand in for cluster DNS)."""
    namespace = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace[1:1] = ["--user", "--map-root-user"]
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return [*namespace, "--", "/bin/sh", "-c", script, str(hosts), *argv]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def service_proxy(
    objects: Objects, pod: Pod, labels: Mapping[str, str]
) -> AsyncIterator[None]:
    """kube-proxy for the Services selecting the pod: each Service port, on the Service's
    address, forwards to the pod's target port (by number or container port name)."""
    servers = []
    for svc in objects.service_objects():
        selector = (svc.get("spec") or {}).get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for port in svc["spec"]["ports"]:
            target = pod.port(port.get("targetPort", port["port"]))

            async def forward(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int = target
            ) -> None:
                try:
                    upstream_reader, upstream_writer = await asyncio.open_connection(
                        "127.0.0.1", target
                    )
                except OSError:
                    writer.close()
                    return
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

            servers.append(
                await asyncio.start_server(forward, objects.cluster_ip(svc), int(port["port"]))
            )
    try:
        yield
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


@dataclass
class Kubelet:
    """Starts the containers of rendered workloads on this machine (see the module docstring)."""

    objects: Objects
    images: Mapping[str, Image]
    workdir: Path
    # Deviations a test must declare (e.g. KUBECONFIG for the operator), added last.
    extra_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def _identity(self, workload: Mapping[str, Any]) -> tuple[PodIdentity, dict[str, Any]]:
        base = workload["metadata"]["name"]
        suffix = secrets.token_hex(3)[:5]
        if workload["kind"] == "Pod":
            template, name = {"metadata": workload["metadata"], "spec": workload["spec"]}, base
        else:
            template = workload["spec"]["template"]
            name = (
                f"{base}-{secrets.token_hex(5)}-{suffix}"
                if workload["kind"] == "Deployment"
                else f"{base}-{suffix}"
            )
        meta = template.get("metadata") or {}
        spec = template["spec"]
        pod = PodIdentity(
            name=name,
            namespace=self.objects.namespace,
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            service_account=spec.get("serviceAccountName", "default"),
        )
        return pod, spec

    def _volumes(
        self, pod: PodIdentity, spec: Mapping[str, Any], container: Mapping[str, Any]
    ) -> dict[str, Path]:
        """mount path → host directory, filled as the volume's kind says."""
        root = self.workdir / pod.name
        declared = {v["name"]: v for v in spec.get("volumes") or []}
        mounts: dict[str, Path] = {}
        for mount in container.get("volumeMounts") or []:
            volume = declared.get(mount["name"])
            if volume is None:
                raise PodStartError(f"pod {pod.name}: volumeMount {mount['name']} names no volume")
            host = root / "volumes" / mount["name"]
            host.mkdir(parents=True, exist_ok=True)
            for kind in ("configMap", "secret"):
                if kind in volume:
                    ref = volume[kind]
                    name = ref.get("name") or ref.get("secretName")
                    values = self.objects.data(
                        "ConfigMap" if kind == "configMap" else "Secret", name
                    )
                    if values is None and not ref.get("optional"):
                        raise PodStartError(f"pod {pod.name}: {kind} volume {name} does not exist")
                    for key, text in (values or {}).items():
                        (host / key).write_text(text)
            if not ({"emptyDir", "configMap", "secret"} & set(volume)):
                raise PodStartError(f"pod {pod.name}: volume {volume} is of a kind not emulated")
            mounts[mount["mountPath"]] = host
        return mounts

    def environment(
        self, workload: Mapping[str, Any], container: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """The process environment of the workload's (first) container, as a kubelet builds it."""
        pod, spec = self._identity(workload)
        return self._prepare(pod, spec, container or spec["containers"][0])[1]

    def _prepare(
        self, pod: PodIdentity, spec: Mapping[str, Any], container: Mapping[str, Any]
    ) -> tuple[list[str], dict[str, str], Path]:
        img = self.images.get(container["image"])
        if img is None:
            raise PodStartError(f"pod {pod.name}: image {container['image']} cannot be pulled")
        mounts = self._volumes(pod, spec, container)
        root = self.workdir / pod.name / "rootfs"
        root.mkdir(parents=True, exist_ok=True)

        def host(value: str) -> str:
            """A container path as this machine's: a mount's directory, or the image's."""
            for path in sorted(mounts, key=len, reverse=True):
                if value == path or value.startswith(path.rstrip("/") + "/"):
                    return str(mounts[path]) + value[len(path.rstrip("/")) :]
            return img.host_path(value)

        defined = container_environment(self.objects, pod, container)
        env = {name: host(value) for name, value in img.env.items()}
        env["HOSTNAME"] = pod.name
        env.update({k: v for k, v in service_variables(self.objects).items() if k not in defined})
        env.update({name: host(value) for name, value in defined.items()})
        env["HOME"] = str(root)
        if "/tmp" in mounts:
            env["TMPDIR"] = str(mounts["/tmp"])
        env.update(self.extra_env.get(container["name"], {}))

        command = list(container.get("command") or img.entrypoint)
        args = list(container.get("args") or ([] if container.get("command") else img.cmd))
        argv = [expand(part, env) for part in command + args]
        executable = shutil.which(argv[0], path=env.get("PATH"))
        if executable is None:
            raise PodStartError(f"pod {pod.name}: {argv[0]} not found in the image's PATH")
        cwd = Path(host(container.get("workingDir") or img.workdir))
        if not str(cwd).startswith(str(self.workdir)):
            cwd = root / str(cwd).lstrip("/")
        cwd.mkdir(parents=True, exist_ok=True)
        return [executable, *argv[1:]], env, cwd

    @contextlib.asynccontextmanager
    async def running(
        self, workload: Mapping[str, Any], port_wait: float = 30
    ) -> AsyncIterator[Pod]:
        """The workload's pod (its first container) running for the block, the Services that
        select it forwarding to it, stopped after."""
        pod = await self.start(workload, port_wait)
        labels = (workload["spec"].get("template") or workload).get("metadata", {}).get(
            "labels"
        ) or {}
        try:
            async with service_proxy(self.objects, pod, labels):
                yield pod
        finally:
            await pod.stop()

    async def start(self, workload: Mapping[str, Any], port_wait: float = 30) -> Pod:
        pod, spec = self._identity(workload)
        container = spec["containers"][0]
        argv, env, cwd = self._prepare(pod, spec, container)
        ports = [int(p["containerPort"]) for p in container.get("ports") or []]
        deadline = time.monotonic() + port_wait
        while busy := [p for p in ports if not _port_free(p)]:
            if time.monotonic() > deadline:
                raise PodStartError(f"pod {pod.name}: port(s) {busy} held by another process")
            await asyncio.sleep(0.5)
        log = self.workdir / pod.name / "container.log"
        hosts = self.workdir / pod.name / "hosts"
        hosts.write_text(self.objects.hosts_file(pod.name))
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                *with_hosts_file(hosts, argv), env=env, cwd=cwd, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        return Pod(pod.name, dict(container), process, log, grace, argv, env)

    async def run_job(self, job: Mapping[str, Any]) -> JobOutcome:
        """The Job controller and the kubelet together: pods until one succeeds, at most
        ``backoffLimit`` retries, within ``activeDeadlineSeconds``."""
        spec = job["spec"]
        deadline = time.monotonic() + float(spec.get("activeDeadlineSeconds", 600))
        attempts: list[tuple[int, str]] = []
        for _ in range(int(spec.get("backoffLimit", 6)) + 1):
            pod = await self.start(job)
            try:
                code = await pod.wait(max(deadline - time.monotonic(), 0.1))
            except TimeoutError:
                attempts.append((-1, pod.logs()))
                return JobOutcome(False, "DeadlineExceeded", attempts)
            attempts.append((code, pod.logs()))
            if code == 0:
                return JobOutcome(True, "CompletionsReached", attempts)
        return JobOutcome(False, "BackoffLimitExceeded", attempts)


@dataclass
class JobOutcome:
    succeeded: bool
    reason: str
    attempts: list[tuple[int, str]]

    def status(self, now: str) -> dict[str, Any]:
        """The Job's status as the Job controller writes it at the end."""

        def condition(kind: str) -> dict[str, str]:
            return {"type": kind, "status": "True", "reason": self.reason, "lastProbeTime": now,
                    "lastTransitionTime": now}  # fmt: skip

        failed = sum(1 for code, _ in self.attempts if code != 0)
        if self.succeeded:
            conditions = [condition("SuccessCriteriaMet"), condition("Complete")]
            counts = {"succeeded": 1, "failed": failed, "completionTime": now}
        else:
            conditions = [condition("FailureTarget"), condition("Failed")]
            counts = {"failed": failed}
        return {"conditions": conditions, "startTime": now, "active": 0, "ready": 0, **counts}

    def describe(self) -> str:
        return "\n".join(
            f"attempt {i}: exit {code}\n{logs}" for i, (code, logs) in enumerate(self.attempts)
        )


def of_kinds(manifests: Iterable[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [m for m in manifests if m.get("kind") in kinds]
