"""What every run of the benchmark (and of ``python -m bench.profile``) stands on: an embedded
Postgres and Redis in a temp folder, the schema, the bench tenants applied, the Whaticket
stand-in, and the reference stack's database beside Atende's."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from bench.growth import TENANT_COUNTS
from bench.harness import SECRET, TOKEN, tenants_yaml
from bench.reference.schema import create_schema
from services.cli.admin import apply_file
from services.cli.embedded import EmbeddedPostgres, EmbeddedRedis
from services.core import schema
from services.core.config import Settings
from tests.standins.whaticket import WhaticketStandIn

LOOPBACK = "127.0.0.1/32"  # the stand-ins, allowed as tenants' destinations


@dataclass
class Bench:
    env: dict[str, str]
    settings: Settings
    whaticket: WhaticketStandIn
    reference: dict[str, str]
    tmp: Path


def _reference_env(
    env: dict[str, str], postgres: EmbeddedPostgres, whaticket_url: str
) -> dict[str, str]:
    """The reference stack on its own database and Redis database of the same servers."""
    assert postgres.server is not None
    postgres.server.psql("CREATE DATABASE reference;")
    socket_dir = parse_qs(urlparse(env["ATENDE_DATABASE_URL"]).query)["host"][0]
    dsn = f"postgresql://postgres@/reference?host={socket_dir}"
    for tenant in ("bench", "drain"):
        create_schema(dsn, tenant, SECRET)
    return env | {
        "REF_DATABASE_URL": dsn,
        "REF_REDIS_URL": env["ATENDE_REDIS_URL"].rsplit("/", 1)[0] + "/1",
        "REF_GEMINI_KEY": "test-key",
        "REF_WHATICKET_URL": whaticket_url,
        "REF_WHATICKET_TOKEN": TOKEN,
    }


@contextmanager
def servers(
    prefix: str = "atende-bench-", extra_env: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, str], Settings, EmbeddedPostgres, Path]]:
    """An embedded Postgres and Redis in a temp folder with the schema, the environment the
    processes under test get, and the settings for this process. The folder is removed
    afterwards, unless the run failed: then the processes' logs are kept, and it says where."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    postgres, redis = EmbeddedPostgres(tmp / "postgres"), EmbeddedRedis(tmp / "redis")
    try:
        env = dict(os.environ) | {
            "ATENDE_DATABASE_URL": postgres.start(),
            "ATENDE_REDIS_URL": redis.start(),
            "ATENDE_DATA_DIR": str(tmp),
            "ATENDE_LOG_FORMAT": "json",
            "NO_PROXY": "127.0.0.1,localhost",
            "ATENDE_EGRESS_ALLOWED_NETWORKS": json.dumps([LOOPBACK]),
            **(extra_env or {}),
        }
        settings = Settings(
            database_url=env["ATENDE_DATABASE_URL"],
            redis_url=env["ATENDE_REDIS_URL"],
            egress_allowed_networks=[LOOPBACK],
        )
        schema.upgrade(settings.database_url)
        yield env, settings, postgres, tmp
    except BaseException:
        keep = True
        raise
    else:
        keep = False
    finally:
        redis.stop()
        postgres.stop()
        if keep:
            print(f"the processes' logs are kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def environment() -> Iterator[Bench]:
    with (
        servers() as (env, settings, postgres, tmp),
        WhaticketStandIn("saas", [TOKEN]) as whaticket,
    ):
        answering = ["drain", *(f"bench{i}" for i in range(max(TENANT_COUNTS)))]
        manifests = tenants_yaml(["bench"]) + "---" + tenants_yaml(answering, whaticket.url)
        asyncio.run(apply_file(settings, manifests))
        reference = _reference_env(env, postgres, whaticket.url)
        yield Bench(env, settings, whaticket, reference, tmp)
