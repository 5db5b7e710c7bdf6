"""The real api app, its lifespan running, driven in-process with httpx; plus a Baileys builder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from services.api.main import create_app
from services.api.state import AppState
from services.cli.admin import apply_file
from services.core.auth.roles import Role
from services.core.auth.sessions import create_user
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.models import Tenant
from tests.fixtures.tenant_files import renamed

TENANT = "shop"
CONNECTION = "main"
SECRET = "shop-webhook-secret-current-0001"
PREVIOUS_SECRET = "shop-webhook-secret-previous-002"
MAX_BODY_BYTES = 2048
DEBOUNCE_SECONDS = 2

TENANT_YAML = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: {TENANT}, labels: {{atende.dev/tenant: {TENANT}}}}}
stringData:
  webhook-secret: {SECRET}
  webhook-secret-old: {PREVIOUS_SECRET}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {TENANT}}}
spec:
  displayName: Loja Teste
  whaticket:
    variant: saas
    connections:
      - name: {CONNECTION}
  webhook:
    secretRefs:
      - {{name: {TENANT}, key: webhook-secret}}
      - {{name: {TENANT}, key: webhook-secret-old}}
  persona:
    systemPrompt: Você é a assistente da Loja Teste.
  conversation: {{debounceSeconds: {DEBOUNCE_SECONDS}}}
"""


def make_settings(database_url: str, redis_url: str, data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        max_body_bytes=MAX_BODY_BYTES,
        secret_key=SecretStr("test-platform-secret-key"),
        **{"egress_allowed_networks": ["127.0.0.1/32"], **extra},
    )


def hook_path(tenant: str = TENANT, connection: str = CONNECTION, secret: str = SECRET) -> str:
    return f"/hooks/whaticket/{tenant}/{connection}/{secret}"


def baileys(
    msg_id: str,
    text: str = "Oi, qual o horário de atendimento?",
    *,
    remote: str = "5511999998888@s.whatsapp.net",
    from_me: bool = False,
    push_name: str = "Maria",
    **key_extra: Any,
) -> dict[str, Any]:
    """A raw ``WebMessageInfo`` as a Whaticket SaaS fork forwards it."""
    return {
        "key": {"remoteJid": remote, "fromMe": from_me, "id": msg_id, **key_extra},
        "message": {"conversation": text},
        "messageTimestamp": {"low": 1_760_000_000, "high": 0, "unsigned": True},
        "pushName": push_name,
    }


@dataclass
class RunningApp:
    client: httpx.AsyncClient
    state: AppState
    settings: Settings

    async def post(self, payload: Any, path: str | None = None) -> httpx.Response:
        return await self.client.post(path or hook_path(), json=payload)


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[RunningApp]:
    """``create_app`` with its lifespan (engine, Redis, spool replayer) running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://atende.test") as client:
            yield RunningApp(client, app.state.atende, settings)


async def shop_and_other_with_users(
    settings: Settings,
    sessionmaker: SessionMaker,
    users: Mapping[str, tuple[str, Role, str | None]],
    password: str,
) -> None:
    """The shop tenant and a stranger, ``other``, each with its panel users (``users`` maps a
    name to e-mail, role and tenant slug; None for a platform user)."""
    await apply_file(settings, TENANT_YAML)
    await apply_file(settings, renamed(TENANT_YAML, TENANT, "other"))
    async with transaction(sessionmaker) as session:
        slugs = {t.slug: t.id for t in await session.scalars(select(Tenant))}
        for email, role, tenant in users.values():
            tenant_id = slugs[tenant] if tenant else None
            await create_user(
                session, email=email, password=password, role=role, tenant_id=tenant_id,
                actor="test",
            )  # fmt: skip
