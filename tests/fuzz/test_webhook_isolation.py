"""Two tenants on one real api (uvicorn on loopback, real Postgres and Redis): whatever the
fuzzed tenant posts to its Whaticket and Cloud API webhooks — broken JSON, NaN, lone
surrogates, deep nesting, ids and numbers no column holds — nothing is answered 5xx, and every
message the other tenant posts at the same moment is stored and queued exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import select

from services.api.main import create_app
from services.cli.admin import apply_file
from services.core import jobs
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.models import InboundMessage, Tenant
from tests.fixtures.live_api import serving
from tests.fuzz.webhook_rounds import PHONE_NUMBER_ID, Rounds, Targets

FUZZED, CALM = "loud", "calm"
APP_SECRET = "fuzz-meta-app-secret-0123456789"


def tenant_yaml(name: str, *, meta: bool) -> str:
    meta_keys = f"  meta-app-secret: {APP_SECRET}\n  meta-verify: v\n  meta-token: t\n"
    meta_spec = f"""\
  meta:
    phoneNumberId: "{PHONE_NUMBER_ID}"
    verifyTokenSecretRef: {{name: {name}, key: meta-verify}}
    appSecretSecretRef: {{name: {name}, key: meta-app-secret}}
    accessTokenSecretRef: {{name: {name}, key: meta-token}}
"""
    return f"""\
apiVersion: v1
kind: Secret
metadata: {{name: {name}, labels: {{atende.dev/tenant: {name}}}}}
stringData:
  webhook-secret: {name}-webhook-secret-0123456789
{meta_keys if meta else ""}---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {name}}}
spec:
  displayName: Loja {name}
  whaticket:
    variant: saas
    connections: [{{name: main}}]
  webhook:
    secretRefs: [{{name: {name}, key: webhook-secret}}]
  persona:
    systemPrompt: Você é a assistente da loja {name}.
  conversation: {{debounceSeconds: 60}}
{meta_spec if meta else ""}"""


def hook(name: str) -> str:
    return f"/hooks/whaticket/{name}/main/{name}-webhook-secret-0123456789"


@pytest_asyncio.fixture(loop_scope="session")
async def api_url(
    clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[str]:
    settings_ = Settings(  # the default body cap: deep nesting must reach the parser
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path,
        secret_key=SecretStr("fuzz-platform-secret-key"),
    )
    both = tenant_yaml(FUZZED, meta=True) + "---\n" + tenant_yaml(CALM, meta=False)
    await apply_file(settings_, both)
    async with serving(create_app(settings_)) as url:
        yield url


async def test_no_fuzzed_body_fails_the_api_or_the_other_tenant(
    api_url: str, clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    targets = Targets(hook(FUZZED), f"/hooks/meta/{FUZZED}", APP_SECRET, hook(CALM))
    rounds = Rounds(api_url, targets)
    await asyncio.to_thread(rounds.fuzz)
    assert not rounds.problems, "\n".join(rounds.problems[:20])

    async with clean_db() as session:
        calm = select(Tenant.id).where(Tenant.slug == CALM).scalar_subquery()
        rows = (
            await session.execute(
                select(InboundMessage.id, InboundMessage.provider_msg_id).where(
                    InboundMessage.tenant_id == calm
                )
            )
        ).all()
    assert sorted(m for _, m in rows) == sorted(rounds.calm_sent), "a calm message was lost"
    queued = {j.decode() for j in await redis_client.zrange(jobs.QUEUE, 0, -1)}
    assert all(jobs.inbound_job_id(i) in queued for i, _ in rows)  # each queued, once by its id
