"""The `helm test` pod's check, run as the pod would run it, against the real api on loopback
and a real Prometheus (Debian's): it passes on a healthy release, and fails (exit 1, the reason
on stderr, naming the value to fix) when Postgres is down, when KEDA's Prometheus address does
not answer, or when that Prometheus does not scrape the api."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import redis.asyncio as aioredis
import yaml

from services.api.main import create_app
from services.cli.embedded import free_port
from services.core.db import SessionMaker
from tests.api.webhook_app import make_settings
from tests.fixtures.live_api import serving

from .conftest import Manifests
from .render import NAMESPACE, of_kind, render, values_file

ABSENT_TENANT_HOOK = "/hooks/whaticket/helm-test-no-such-tenant/main/not-a-secret"
API_CHECKS = ["GET /readyz: 200 as expected", f"POST {ABSENT_TENANT_HOOK}: 404 as expected"]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def _run_the_test_pod(
    manifests: Manifests, api_url: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The pod's command and arguments, with its environment pointed at ``api_url`` instead
    of the in-cluster Service (and ``env`` over the rest)."""
    [pod] = of_kind(manifests, "Pod")
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    given = {e["name"]: e["value"] for e in container["env"]}
    given |= {"ATENDE_TEST_API_URL": api_url} | env
    return subprocess.run(
        [sys.executable, "-c", *container["args"]],
        env={"PATH": os.environ["PATH"], "NO_PROXY": "127.0.0.1"} | given,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextlib.contextmanager
def prometheus(workdir: Path, scrape: str | None) -> Iterator[str]:
    """A real Prometheus scraping ``scrape`` (host:port) as the chart's ServiceMonitor has it
    scraped: /metrics, with the pod's namespace as a label."""
    jobs = []
    if scrape:
        target = {"targets": [scrape], "labels": {"namespace": NAMESPACE}}
        jobs = [{"job_name": "atende-api", "scrape_interval": "1s", "static_configs": [target]}]
    (workdir / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": jobs}))
    port = free_port()
    args = [PROMETHEUS, "--config.file=prometheus.yml", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={workdir / 'data'}", "--log.level=warn"]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    # The with closes the stderr pipe once the server is gone.
    with subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as server:
        try:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                        break
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
            yield url
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(10)


async def test_the_helm_test_pod_passes_on_a_healthy_release(
    keda: Manifests,
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    # A fresh release has an empty queue: redis_client empties the session's Redis, which jobs
    # left by earlier tests would otherwise fill.
    settings = make_settings(database_url, redis_url, tmp_path)
    async with serving(create_app(settings)) as url:
        with prometheus(tmp_path, urlsplit(url).netloc) as server:
            done = await asyncio.to_thread(
                _run_the_test_pod, keda, url, ATENDE_TEST_PROMETHEUS_URL=server
            )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        *API_CHECKS,
        "autoscaling.prometheusServerAddress answers KEDA's query: 0 ready jobs",
    ]


async def test_the_helm_test_pod_names_a_prometheus_that_does_not_serve_keda(
    keda: Manifests, clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    [scaled] = of_kind(keda, "ScaledObject")
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    nowhere = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(database_url, redis_url, tmp_path)
    async with serving(create_app(settings)) as url:
        unreachable = await asyncio.to_thread(
            _run_the_test_pod, keda, url, ATENDE_TEST_PROMETHEUS_URL=nowhere,
            ATENDE_TEST_PROMETHEUS_WAIT_SECONDS="0",
        )  # fmt: skip
        with prometheus(tmp_path, scrape=None) as server:  # up, but not scraping the api
            unscraped = await asyncio.to_thread(
                _run_the_test_pod, keda, url, ATENDE_TEST_PROMETHEUS_URL=server,
                ATENDE_TEST_PROMETHEUS_WAIT_SECONDS="2",
            )  # fmt: skip
    for done in (unreachable, unscraped):
        assert done.returncode == 1
        assert done.stdout.splitlines() == API_CHECKS
    assert unreachable.stderr.startswith(
        f"autoscaling.prometheusServerAddress {nowhere}: {query}: "
    )
    assert "Connection refused" in unreachable.stderr
    assert unscraped.stderr.strip() == (
        f"autoscaling.prometheusServerAddress {server}: {query}: no value yet: is the api "
        "scraped (monitoring.serviceMonitor, monitoring.labels)?"
    )


def test_without_keda_the_pod_does_not_ask_prometheus(hpa: Manifests) -> None:
    [pod] = of_kind(hpa, "Pod")
    names = {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    assert names == {"ATENDE_TEST_API_URL"}


async def test_the_helm_test_pod_fails_when_postgres_is_down(
    keda: Manifests, redis_url: str, tmp_path: Path
) -> None:
    """Without Postgres the api stays ready (it spools what it cannot store), but it cannot
    tell that a tenant is unknown: the webhook step is what fails."""
    nowhere = f"postgresql+asyncpg://atende@127.0.0.1:{free_port()}/atende"
    settings = make_settings(nowhere, redis_url, tmp_path)
    async with serving(create_app(settings)) as url:
        done = await asyncio.to_thread(_run_the_test_pod, keda, url)
    assert done.returncode == 1
    assert done.stdout.splitlines() == API_CHECKS[:1]
    assert re.fullmatch(rf"POST {ABSENT_TENANT_HOOK}: [1-5]\d\d, expected 404", done.stderr.strip())


def test_the_prometheus_check_can_be_switched_off(tmp_path: Path) -> None:
    values = values_file("keda-values.yaml") | {
        "migrations": {"hook": False},
        "helmTest": {"prometheusWaitSeconds": 0},
    }
    [pod] = of_kind(render(values, tmp_path), "Pod")
    assert [e["name"] for e in pod["spec"]["containers"][0]["env"]] == ["ATENDE_TEST_API_URL"]
