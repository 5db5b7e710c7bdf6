"""Running the installed ``atende`` console script, as a platform engineer does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.core.db import SessionMaker

ATENDE = Path(sys.executable).with_name("atende")
SECRET_KEY = "cli-test-platform-secret-key-0123456789"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@dataclass
class Cli:
    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None, **env: str) -> Ran:
        done = subprocess.run(
            [str(ATENDE), *args],
            env=self.env | env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def atende(database_url: str, redis_url: str, tmp_path: Path) -> Cli:
    """``atende`` against the test Postgres and Redis, with production-like settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATENDE_")}
    env.update(
        ATENDE_ENVIRONMENT="test",
        ATENDE_DATABASE_URL=database_url,
        ATENDE_REDIS_URL=redis_url,
        ATENDE_SECRET_KEY=SECRET_KEY,
        ATENDE_DATA_DIR=str(tmp_path / "data"),
    )
    return Cli(env)


TENANT_FILE = """\
apiVersion: v1
kind: Secret
metadata: {name: acme, labels: {atende.dev/tenant: acme}}
stringData:
  whaticket-token: "wtok-cli-8c2b6e0f4a7d"
  webhook-secret: "whsec-cli-5f1d0c7a9b3e4f21"
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {name: acme}
spec:
  displayName: ACME Telecom
  whaticket:
    url: https://whaticket.acme.example
    connections:
      - name: main
        apiTokenSecretRef: {name: acme, key: whaticket-token}
  webhook:
    secretRefs: [{name: acme, key: webhook-secret}]
  persona:
    language: pt-BR
    systemPrompt: Você é a assistente virtual da ACME Telecom.
"""


@pytest.fixture
def acme_file(tmp_path: Path) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(TENANT_FILE)
    return path


@pytest.fixture
def applied(atende: Cli, clean_db: SessionMaker, acme_file: Path) -> Path:
    """The tenant file, applied (for real) to an empty database."""
    ran = atende("tenants", "apply", "-f", str(acme_file))
    assert ran.out == "bottenant/acme created (version 1)\n", ran
    return acme_file
