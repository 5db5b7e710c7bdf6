"""What the worker's jobs share, built once at start-up: settings, database, Redis, the tenant
directory, the model clients, the one way out to tenants' destinations (:class:`Egress`) and an
HTTP pool for the platform's own (the media host).

It sits below every domain that runs inside a job (turns, handoffs, outbound, media) and above
the ones it holds, so none of them has to reach into another for a client."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from arq.connections import ArqRedis

from services.core.breaker import CircuitBreaker
from services.core.channels.egress import Egress
from services.core.channels.egress_policy import EgressPolicy
from services.core.channels.email import EmailClient
from services.core.channels.media import MediaFetcher
from services.core.channels.meta_graph import CloudApiClient
from services.core.channels.sms import SmsClient
from services.core.channels.whaticket.client import WhaticketClient
from services.core.channels.whaticket.tickets import TicketDesk
from services.core.config import Settings
from services.core.db import SessionMaker
from services.core.guard import OutputGuards
from services.core.llm.allowlist import UnbilledModel
from services.core.llm.embedder import GeminiEmbedder
from services.core.llm.factory import GeminiClientFactory
from services.core.llm.types import LlmClient
from services.core.ratelimit.limiter import RateLimiter
from services.core.tenants.directory import TenantConfig, TenantDirectory


@dataclass(slots=True)
class Runtime:
    settings: Settings
    sessionmaker: SessionMaker
    redis: ArqRedis
    tenants: TenantDirectory
    gemini: GeminiClientFactory
    # For hosts the platform chose (the media host); tenants' URLs go through `egress`.
    http: httpx.AsyncClient
    # TTL'd state (context, caches, limits, breakers); None: the queue's Redis serves it too.
    cache_redis: ArqRedis | None = None
    _breakers: dict[str, CircuitBreaker] = field(default_factory=dict)
    # Output guards per tenant version: building one is the costly part of checking a reply.
    guards: OutputGuards = field(default_factory=OutputGuards)
    # "Now" for business hours and the budget month; tests inject a fixed instant.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    limiter: RateLimiter = field(init=False)
    # Whaticket, its ticket API, Meta, SMS, SMTP and event subscribers: every tenant-chosen
    # destination, checked on the address connected to (channels/egress.py).
    egress: Egress = field(init=False)
    whaticket: WhaticketClient = field(init=False)
    desk: TicketDesk = field(init=False)
    cloud_api: CloudApiClient = field(init=False)  # the Meta channel
    sms: SmsClient = field(init=False)  # fallback channels
    email: EmailClient = field(init=False)
    media: MediaFetcher = field(init=False)  # voice notes and images

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.cache)
        timeout = self.settings.whaticket_timeout_seconds
        self.egress = Egress(EgressPolicy.from_settings(self.settings), timeout_seconds=timeout)
        self.whaticket = WhaticketClient(self.egress)
        self.desk = TicketDesk(self.egress)
        self.cloud_api = CloudApiClient(self.egress)
        self.sms = SmsClient(self.egress)
        self.email = EmailClient(self.egress, timeout)
        self.media = MediaFetcher(
            self.http, self.settings.media_base_url, self.settings.media_max_bytes
        )

    @property
    def cache(self) -> ArqRedis:
        """The Redis for what may be evicted: never the queue's jobs."""
        return self.cache_redis or self.redis

    def llm_for(self, tenant: TenantConfig) -> tuple[LlmClient | None, str]:
        """The client and its breaker name: the tenant's own key (its own breaker, so its
        quota errors never stop other tenants), else the platform key for the models it pays
        for (``platform_models``), else offline."""
        if tenant.credentials.gemini_api_key:
            key = tenant.credentials.gemini_api_key
            breaker = "gemini:key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
        elif self.settings.gemini_api_key:
            key, breaker = self.settings.gemini_api_key.get_secret_value(), "gemini:platform"
            model = tenant.model_override or tenant.spec.llm.model
            if model not in self.settings.platform_models:  # never billed to the platform
                return UnbilledModel(model), breaker
        else:
            return None, "offline"  # the turn answers from its knowledge search
        return self.gemini.get(key, self.settings.gemini_base_url), breaker

    def embedder_for(self, tenant: TenantConfig) -> GeminiEmbedder | None:
        """The embedding model on the tenant's own key, else the platform key (embeddings are
        the platform's choice of model and cheap: any tenant on the platform key gets them);
        None with no key or ``ATENDE_EMBEDDING_MODEL`` empty (full-text search only)."""
        settings = self.settings
        platform = settings.gemini_api_key
        key = tenant.credentials.gemini_api_key or (
            platform.get_secret_value() if platform is not None else None
        )
        if not key or not settings.embedding_model:
            return None
        client = self.gemini.get(key, settings.gemini_base_url)
        return GeminiEmbedder(client, settings.embedding_model, settings.embedding_dimensions)

    def breaker(self, name: str) -> CircuitBreaker:
        if name not in self._breakers:
            self._breakers[name] = self._new_breaker(name)
        return self._breakers[name]

    def _new_breaker(self, name: str) -> CircuitBreaker:
        s = self.settings
        return CircuitBreaker(
            self.cache,
            name,
            failure_threshold=s.breaker_failure_threshold,
            window_seconds=s.breaker_window_seconds,
            open_seconds=s.breaker_open_seconds,
        )
