"""The `helm test` pod's check, run as the pod would run it, against the real api on loopback:
it passes on a healthy api, and fails (exit 1, the reason on stderr) on one whose Postgres is
down."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from services.api.main import create_app
from services.cli.embedded import free_port
from services.core.db import SessionMaker
from tests.api.webhook_app import make_settings
from tests.fixtures.live_api import serving

from .conftest import Manifests
from .render import of_kind

ABSENT_TENANT_HOOK = "/hooks/whaticket/helm-test-no-such-tenant/main/not-a-secret"


def _run_the_test_pod(keda: Manifests, api_url: str) -> subprocess.CompletedProcess[str]:
    """The pod's command and arguments, with its environment pointed at ``api_url`` instead
    of the in-cluster Service."""
    [pod] = of_kind(keda, "Pod")
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["python", "-c"]
    env = {e["name"]: e["value"] for e in container["env"]} | {"ATENDE_TEST_API_URL": api_url}
    return subprocess.run(
        [sys.executable, "-c", *container["args"]],
        env={"PATH": os.environ["PATH"], "NO_PROXY": "127.0.0.1"} | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_helm_test_pod_passes_on_a_healthy_api(
    keda: Manifests, clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, redis_url, tmp_path)
    async with serving(create_app(settings)) as url:
        done = await asyncio.to_thread(_run_the_test_pod, keda, url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "GET /readyz: 200 as expected",
        f"POST {ABSENT_TENANT_HOOK}: 404 as expected",
    ]


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
    assert done.stdout.splitlines() == ["GET /readyz: 200 as expected"]
    assert re.fullmatch(rf"POST {ABSENT_TENANT_HOOK}: [1-5]\d\d, expected 404", done.stderr.strip())
