"""A real turn pipeline in one process: Postgres, Redis, the Gemini and Whaticket stand-ins.

``Harness`` builds a real :class:`Runtime` (the worker's own pieces: real google-genai client,
real httpx Whaticket client, shared breakers in Redis), applies a tenant pointing at a Whaticket
stand-in, ingests customer messages the way the webhook does, and drives
``process_inbound`` the way the arq job boundary does (``RetryLater`` → run again later).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from pydantic import SecretStr
from sqlalchemy import select

from services.core.channels.baileys import NormalizedMessage
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.inbound.service import ingest
from services.core.llm.factory import GeminiClientFactory
from services.core.models import DeadLetter, InboundMessage, OutboundMessage, Turn
from services.core.redis import create_redis
from services.core.retry import RetryLater
from services.core.runtime import Runtime
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantConfig, TenantDirectory
from services.core.tenants.manifest import SecretStore, TenantManifest
from services.core.tenants.service import apply_tenant
from services.core.tenants.spec import BotTenantSpec
from services.core.turns.service import process_inbound
from tests.standins.gemini import GeminiStandin
from tests.standins.whaticket import WhaticketStandIn

PLATFORM_KEY = "test-key"
SECRET_KEY = "turn-tests-secret-key"
WHATICKET_TOKEN = "wt-token-turns-0123456789"
WEBHOOK_SECRET = "hook-secret-0123456789abcdefgh"
PHONE = "5511999998888"
AGENT_EMAIL = "bot@example.com"  # the stand-in's default user (password "bot-password")
PERSONA = "Você é a Ana, assistente virtual da ACME Telecom."
KNOWLEDGE = [
    {"question": "Qual o horário de atendimento?", "answer": "Seg a sex, 8h às 18h."},
    {
        "question": "Quais as formas de pagamento?",
        "answer": "Aceitamos Pix, boleto e cartão de crédito.",
    },
]
FALLBACK = "Desculpe, estamos com instabilidade. Um atendente humano vai te responder já já."

_message_ids = itertools.count(1)


def tenant_spec(whaticket_url: str | None, variant: str, **overrides: Any) -> dict[str, Any]:
    """A BotTenant spec (camelCase, as in a tenant file); ``overrides`` replace top-level keys."""
    spec: dict[str, Any] = {
        "displayName": "ACME Telecom",
        "whaticket": {
            "url": whaticket_url,
            "variant": variant,
            "connections": [
                {"name": "main", "apiTokenSecretRef": {"name": "acme", "key": "whaticket-token"}}
            ],
        },
        "webhook": {"secretRefs": [{"name": "acme", "key": "webhook-secret"}]},
        "persona": {"systemPrompt": PERSONA, "fallbackMessage": FALLBACK},
        "knowledge": {"entries": KNOWLEDGE},
        "conversation": {"debounceSeconds": 0},
    }
    spec.update(overrides)
    return spec


class Harness:
    """One tenant, one Whaticket stand-in, one Gemini stand-in, and a real ``Runtime``."""

    def __init__(
        self,
        deps: Runtime,
        gemini: GeminiStandin,
        whaticket: WhaticketStandIn,
        redis: aioredis.Redis,
    ) -> None:
        self.deps = deps
        self.gemini = gemini
        self.whaticket = whaticket
        self.redis = redis
        self.tenant: TenantConfig | None = None

    @property
    def sessionmaker(self) -> SessionMaker:
        return self.deps.sessionmaker

    async def apply_tenant(
        self,
        *,
        gemini_key: str | None = None,
        slug: str = "acme",
        agent_password: str | None = None,
        handoff_queue_id: int | None = None,
        extra_secrets: dict[str, str] | None = None,
        **overrides: Any,
    ) -> TenantConfig:
        """``agent_password`` adds the agent user (the stand-in's ``AGENT_EMAIL``) that moves
        tickets on handoff."""
        raw = tenant_spec(self.whaticket.url, self.whaticket.variant, **overrides)
        if gemini_key is not None:
            raw["llm"] = {"apiKeySecretRef": {"name": "acme", "key": "gemini-api-key"}}
        values = {"whaticket-token": WHATICKET_TOKEN, "webhook-secret": WEBHOOK_SECRET}
        if agent_password is not None:
            raw["whaticket"]["agent"] = {
                "email": AGENT_EMAIL,
                "passwordSecretRef": {"name": "acme", "key": "agent-password"},
            }
            raw["whaticket"]["handoffQueueId"] = handoff_queue_id
            values["agent-password"] = agent_password
        if gemini_key is not None:
            values["gemini-api-key"] = gemini_key
        values |= extra_secrets or {}
        cipher = CredentialCipher(SECRET_KEY)
        manifest = TenantManifest(slug, BotTenantSpec.model_validate(raw))
        async with transaction(self.sessionmaker) as session:
            await apply_tenant(session, manifest, SecretStore({"acme": values}), cipher)
        tenant = await self.deps.tenants.by_slug(slug)
        assert tenant is not None
        self.tenant = tenant
        return tenant

    async def ingest(
        self,
        text: str,
        *,
        phone: str = PHONE,
        correlation_id: str | None = None,
        kind: str = "text",
        message_body: dict[str, Any] | None = None,
    ) -> int:
        """Store a customer message durably, as the webhook does (without enqueueing);
        ``message_body`` replaces the Baileys ``message`` stored with it."""
        assert self.tenant is not None, "apply_tenant first"
        n = next(_message_ids)
        message = NormalizedMessage(
            provider_msg_id=f"3EB0TURN{n:08d}",
            kind=kind,
            text=text,
            phone=phone,
            lid=None,
            push_name="Maria",
            sent_at=None,
        )
        payload = {
            "key": {"id": message.provider_msg_id, "remoteJid": f"{phone}@s.whatsapp.net"},
            "message": message_body or {"conversation": text},
        }
        async with transaction(self.sessionmaker) as session:
            ingested = await ingest(
                session,
                tenant_id=self.tenant.id,
                connection="main",
                message=message,
                payload=payload,
                correlation_id=correlation_id or f"corr{n:08d}",
            )
        assert ingested.inbound_id is not None
        return ingested.inbound_id

    async def attempt(self, inbound_id: int) -> RetryLater | None:
        """One run of the job: None when it finished, the ``RetryLater`` when it asked for more."""
        try:
            await process_inbound(self.deps, inbound_id)
        except RetryLater as later:
            return later
        return None

    async def run(
        self, inbound_id: int, *, rounds: int = 40, max_sleep: float = 0.1
    ) -> list[RetryLater]:
        """Run the job until it completes, sleeping ``min(defer, max_sleep)`` between tries."""
        retries: list[RetryLater] = []
        for _ in range(rounds):
            later = await self.attempt(inbound_id)
            if later is None:
                return retries
            retries.append(later)
            await asyncio.sleep(min(later.defer, max_sleep))
        raise AssertionError(f"job for message {inbound_id} still retrying after {rounds} rounds")

    # -- what an operator would look at --------------------------------------------------------
    async def turns(self) -> list[Turn]:
        async with self.sessionmaker() as session:
            return list(await session.scalars(select(Turn).order_by(Turn.id)))

    async def outbound(self) -> list[OutboundMessage]:
        async with self.sessionmaker() as session:
            return list(await session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))

    async def dead_letters(self) -> list[DeadLetter]:
        async with self.sessionmaker() as session:
            return list(await session.scalars(select(DeadLetter).order_by(DeadLetter.id)))

    async def inbound(self, inbound_id: int) -> InboundMessage:
        async with self.sessionmaker() as session:
            message = await session.get(InboundMessage, inbound_id)
        assert message is not None
        return message

    def delivered(self) -> list[str]:
        """Customer-visible texts, in delivery order."""
        return [str(item["text"]) for item in self.whaticket.sent()]


def make_settings(database_url: str, redis_url: str, gemini_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "gemini_api_key": SecretStr(PLATFORM_KEY),
        "gemini_base_url": gemini_url,
        "gemini_timeout_seconds": 1,
        "whaticket_timeout_seconds": 1,
        "secret_key": SecretStr(SECRET_KEY),
        "lease_seconds": 3,
        "breaker_failure_threshold": 3,
        "breaker_open_seconds": 0.5,
        "turn_give_up_after_seconds": 30,
        "send_max_attempts": 3,
        "turn_max_attempts": 3,
        "tenant_cache_seconds": 0,
        "stuck_after_seconds": 60,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[GeminiStandin]:
    with GeminiStandin(api_key=PLATFORM_KEY) as server:
        yield server


@pytest.fixture
def gemini(gemini_server: GeminiStandin) -> GeminiStandin:
    gemini_server.reset()
    return gemini_server


@pytest.fixture
def whaticket_variant() -> str:
    """Overridden by tests that parametrize the variant."""
    return "saas"


@pytest.fixture
def whaticket(whaticket_variant: str) -> Iterator[WhaticketStandIn]:
    with WhaticketStandIn(whaticket_variant, [WHATICKET_TOKEN]) as server:
        yield server


@pytest_asyncio.fixture
async def make_harness(
    clean_db: SessionMaker,
    database_url: str,
    redis_url: str,
    redis_client: aioredis.Redis,
    gemini: GeminiStandin,
    whaticket: WhaticketStandIn,
) -> AsyncIterator[Callable[..., Harness]]:
    """``make_harness(**settings_overrides)`` → a Harness on fresh tables and an empty Redis."""
    closers: list[tuple[GeminiClientFactory, httpx.AsyncClient, aioredis.Redis]] = []

    def build(**overrides: Any) -> Harness:
        settings = make_settings(database_url, redis_url, gemini.base_url, **overrides)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.whaticket_timeout_seconds, connect=1.0)
        )
        redis = create_redis(redis_url)
        factory = GeminiClientFactory.from_settings(settings)
        deps = Runtime(
            settings=settings,
            sessionmaker=clean_db,
            redis=redis,
            tenants=TenantDirectory(
                clean_db, CredentialCipher(SECRET_KEY), settings.tenant_cache_seconds
            ),
            gemini=factory,
            http=http,
        )
        closers.append((factory, http, redis))
        return Harness(deps, gemini, whaticket, redis_client)

    yield build
    for factory, http, redis in closers:
        await factory.aclose_all()
        await http.aclose()
        await redis.aclose()


@pytest_asyncio.fixture
async def harness(make_harness: Callable[..., Harness]) -> Harness:
    """The default harness with a tenant applied (debounce 0)."""
    h = make_harness()
    await h.apply_tenant()
    return h
