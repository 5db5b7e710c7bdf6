"""Platform settings, read once from ``ATENDE_*`` environment variables.

Per-tenant behaviour lives in the tenant's spec (``BotTenant``), not here: these are the knobs of
the deployment itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.errors import AtendeError

DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused outside development
MIN_SECRET_KEY_LENGTH = 32


class InsecureSecretKey(AtendeError):
    """The platform key is the built-in one or too short, outside development."""

    code = "insecure_secret_key"


def asyncpg_url(url: str) -> str:
    """A database URL for asyncpg: the plain ``postgresql://`` form operators usually have at
    hand gets the driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATENDE_", extra="ignore", populate_by_name=True)

    environment: str = "development"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/atende"
    # The schema owner, for `atende migrate` only (docs/operations.md, Database roles): the
    # migrations then grant ATENDE_DATABASE_URL's user exactly what the runtime needs. Unset:
    # one role does both.
    migration_database_url: SecretStr | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A second Redis for what has a TTL and may be evicted (context, caches, rate limits,
    # breakers); unset, redis_url serves both roles (run it with noeviction then).
    cache_redis_url: str | None = None
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str | None = None
    gemini_api_version: str = "v1beta"
    gemini_timeout_seconds: float = 30.0
    # Knowledge retrieval (docs/knowledge.md): every entry is embedded with this Gemini model
    # (with the tenant's key, else the platform key) at this output dimensionality; 768 and
    # 1536 have an HNSW index (migration 0014), other sizes are scanned exactly per tenant.
    # An empty model turns embeddings off: full-text search only.
    embedding_model: str = "gemini-embedding-001"
    embedding_dimensions: int = Field(default=768, ge=128, le=3072)
    # The models the platform key pays for (a JSON list): a tenant without its own key
    # (spec.llm.apiKeySecretRef) is answered only by these; any other is refused at apply and
    # never called (services/core/llm/allowlist.py).
    platform_models: list[str] = ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.5-pro"]
    # The current key: encrypts tenant credentials, signs panel tokens. Checked only by the
    # commands that use it (see secret_keys), so `atende migrate` runs without it.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    # Former keys (a JSON list), still accepted to decrypt stored credentials and verify panel
    # tokens after a rotation. ATENDE_PANEL_PREVIOUS_SECRET_KEYS is its deprecated name.
    previous_secret_keys: list[SecretStr] = Field(
        default=[],
        validation_alias=AliasChoices(
            "ATENDE_PREVIOUS_SECRET_KEYS", "ATENDE_PANEL_PREVIOUS_SECRET_KEYS"
        ),
    )
    data_dir: Path = Path(".atende")
    log_format: str = Field(default="json", pattern="^(json|console)$")
    log_level: str = "INFO"

    # Webhook ingest.
    max_body_bytes: int = 256 * 1024
    tenant_cache_seconds: float = 5.0
    # Pre-auth throttle: failed authentications (401/404) allowed per source IP.
    webhook_ip_failures_per_minute: float = 10.0
    webhook_ip_failure_burst: int = 20
    # How many reverse proxies in front of the api append to X-Forwarded-For. 0: the header is
    # ignored and the TCP peer is the source (anyone could forge the header otherwise).
    trusted_proxy_hops: int = Field(default=0, ge=0)

    # Worker.
    worker_max_jobs: int = 256
    worker_metrics_port: int = 9100
    # /healthz on the metrics port answers 503 once the event loop or arq's job loop has not
    # turned for this long. SIGTERM: in-flight jobs get the grace (the pod's
    # terminationGracePeriodSeconds) less a few seconds to hand the rest back to the queue.
    worker_stall_seconds: float = Field(default=30.0, gt=0)
    worker_shutdown_grace_seconds: float = Field(default=200.0, ge=0)
    turn_max_attempts: int = 4
    turn_give_up_after_seconds: float = 180.0
    send_max_attempts: int = 5
    sweep_interval_seconds: float = 30.0
    # How often a worker looks for Whaticket connections back from an outage whose waiting
    # replies it may send (one per connection per look, at spec.delivery.replayPerMinute).
    redelivery_interval_seconds: float = Field(default=2.0, gt=0)
    stuck_after_seconds: float = 60.0
    lease_seconds: float = 120.0
    whaticket_timeout_seconds: float = 10.0
    # Voice notes and images (features.audio / features.images): fetched from this host by the
    # message's directPath, never from a URL in the payload; larger files are not read.
    media_base_url: str = "https://mmg.whatsapp.net"
    media_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Networks (a JSON list of CIDRs) where tenants' own installs may live although they are
    # not public: loopback, private, link-local and CGNAT addresses are refused otherwise, and
    # the platform's own Postgres/Redis always (services/core/channels/egress.py).
    egress_allowed_networks: list[IPvAnyNetwork] = []
    # A contact kept waiting longer than this by a rate limit gets messages.wait, once.
    rate_limit_notice_after_seconds: float = 20.0

    # Panel sign-in.
    panel_access_token_minutes: int = Field(default=10, ge=1, le=60)
    panel_refresh_token_days: int = Field(default=7, ge=1, le=90)
    panel_secure_cookies: bool = True

    # Workflow events (Standard Webhooks). Waits before each retry (a JSON list); once they are
    # spent the delivery fails. A subscription failing this many deliveries in a row is
    # switched off until `atende events enable`.
    events_retry_seconds: list[float] = [5, 300, 1800, 7200, 18000, 36000]
    events_disable_after_failures: int = Field(default=20, ge=1)
    events_timeout_seconds: float = 15.0
    events_poll_seconds: float = 1.0

    # Shared circuit breaker (per dependency, in Redis).
    breaker_failure_threshold: int = 5
    breaker_window_seconds: float = 30.0
    breaker_open_seconds: float = 20.0

    @field_validator("database_url")
    @classmethod
    def _asyncpg_driver(cls, value: str) -> str:
        return asyncpg_url(value)

    def secret_keys(self) -> list[str]:
        """The keyring, current key first; :class:`InsecureSecretKey` outside development when
        the current key is the built-in one or shorter than 32 characters. Every user of the
        key reads it here, so no command can encrypt or sign under a weak key."""
        current = self.secret_key.get_secret_value()
        if self.environment != "development" and (
            current == DEV_SECRET_KEY or len(current) < MIN_SECRET_KEY_LENGTH
        ):
            raise InsecureSecretKey(
                f"ATENDE_SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} random "
                f"characters when ATENDE_ENVIRONMENT={self.environment}"
            )
        previous = [key.get_secret_value() for key in self.previous_secret_keys]
        return [current, *(key for key in dict.fromkeys(previous) if key != current)]

    @property
    def migration_url(self) -> str:
        """The URL `atende migrate` connects with: the schema owner's, or the runtime's."""
        if self.migration_database_url is None:
            return self.database_url
        return asyncpg_url(self.migration_database_url.get_secret_value())

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def serving_settings() -> Settings:
    """Settings for a command that serves with the key (api, worker, operator): a missing or
    weak ATENDE_SECRET_KEY refuses to start (:class:`InsecureSecretKey`, one line from the
    CLI). Commands that never touch the key, like ``atende migrate``, use :func:`get_settings`."""
    settings = get_settings()
    settings.secret_keys()
    return settings
