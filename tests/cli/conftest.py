"""Running the installed ``atende`` console script, as a platform engineer does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

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
