"""A real Prometheus and a real Alertmanager (Debian's ``prometheus`` and
``prometheus-alertmanager``) configured from the chart's rendered monitoring resources, as
prometheus-operator would configure them (``prometheus_operator.py``), and the HTTP calls
KEDA and Grafana make to that Prometheus."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from .prometheus_operator import Manifest

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
ALERTMANAGER = (
    shutil.which("prometheus-alertmanager")
    or shutil.which("alertmanager")
    or "/usr/bin/prometheus-alertmanager"
)
STOP_TIMEOUT = 10.0


class Server:
    """A monitoring server started in its own session, stopped by its PID."""

    def __init__(self, name: str, args: list[str], workdir: Path, port: int) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                args,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready after {within:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(STOP_TIMEOUT)


def start_prometheus(
    workdir: Path,
    port: int,
    *,
    scrape_jobs: list[dict[str, Any]],
    rules: Manifest,
    alertmanager_port: int,
) -> Server:
    """Scraping ``scrape_jobs``, evaluating the PrometheusRule's groups every second (the
    operator writes a PrometheusRule's spec as a rule file as it is) and alerting to the
    Alertmanager on ``alertmanager_port``."""
    (workdir / "rules.yaml").write_text(yaml.safe_dump(rules["spec"]))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": scrape_jobs,
    }
    storage = f"--storage.tsdb.path={workdir / 'prometheus-data'}"
    return _start("prometheus", PROMETHEUS, workdir, port, config, storage)


def start_alertmanager(workdir: Path, port: int, config: dict[str, Any]) -> Server:
    storage = f"--storage.path={workdir / 'alertmanager-data'}"
    # One instance: no gossip port.
    return _start(
        "alertmanager", ALERTMANAGER, workdir, port, config, storage, "--cluster.listen-address="
    )


def _start(
    name: str, binary: str, workdir: Path, port: int, config: dict[str, Any], *flags: str
) -> Server:
    (workdir / f"{name}.yml").write_text(yaml.safe_dump(config))
    args = [
        binary,
        f"--config.file={name}.yml",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        *flags,
    ]
    return Server(name, args, workdir, port)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (what a Grafana panel set to instant reads)."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=5.0)
    body = response.json()
    assert body.get("status") == "success", f"{expr}: {body}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def label_values(prometheus: str, metric: str, label: str) -> list[str]:
    """Grafana's ``label_values(metric, label)`` variable query: the series API's values."""
    response = httpx.get(f"{prometheus}/api/v1/series", params={"match[]": metric}, timeout=5.0)
    series = response.json()["data"]
    return sorted({s[label] for s in series if label in s})


def firing_alerts(prometheus: str) -> list[dict[str, str]]:
    """The labels of every alert Prometheus has firing now."""
    body = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5.0).json()
    return [a["labels"] for a in body["data"]["alerts"] if a["state"] == "firing"]


def keda_prometheus_value(trigger: dict[str, Any]) -> float:
    """KEDA's prometheus scaler reading its trigger (kedacore/keda
    ``pkg/scalers/prometheus_scaler.go`` ``ExecutePromQuery``): GET the instant query at now,
    exactly one sample, an empty result is an error unless ``ignoreNullValues``."""
    meta = trigger["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = (
        f"{meta['serverAddress']}/api/v1/query?query={urllib.parse.quote_plus(meta['query'])}"
        f"&time={urllib.parse.quote_plus(now)}"
    )
    result = httpx.get(url, timeout=5.0).json()["data"]["result"]
    if not result:
        assert meta.get("ignoreNullValues") == "true", "the result is empty: target may be lost"
        return 0.0
    assert len(result) == 1, f"prometheus query {meta['query']} returned multiple elements"
    return float(result[0]["value"][1])
