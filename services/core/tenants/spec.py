"""The BotTenant spec (group ``atende.dev``, version ``v1alpha1``) as a validated model.

Field names are the camelCase names of the Kubernetes resource; unknown fields are rejected so a
typo in a tenant file is an error that names the field, not a silently ignored setting.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    field_validator,
    model_validator,
)

from .delegation import DelegationSpec
from .messages import MessagesSpec
from .retention import RetentionSpec
from .spec_model import SecretRef, SpecModel, unique_by_name

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Reserved connection names: conversations that come through the Meta WhatsApp Cloud API, and
# the panel's simulator, whose replies never leave Atende.
META_CONNECTION = "meta"
SIMULATOR_CONNECTION = "simulator"
_HHMM_RANGE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


class Variant(StrEnum):
    """The Whaticket fork a tenant runs: their send and ticket APIs differ (whaticket.md)."""

    COMMUNITY = "community"  # canove/whaticket-community, whatsapp-web.js, global API token
    SAAS = "saas"  # "saas-classic" (pgup-sistemas/Whaticket-Saas and copies), per-connection token
    TICKETZ = "ticketz"  # ticketz-oss/ticketz: the API only enqueues
    V6 = "v6"  # launcherbr/whaticket-flow ("v6"/"Plus"), per-connection token


def _base_url(url: AnyHttpUrl) -> AnyHttpUrl:
    """A destination base: the product appends its own path, so a query or fragment (a ``#``
    at the end would turn that path into a fragment) and credentials in the URL are refused."""
    if url.fragment is not None:
        raise ValueError("a destination URL cannot have a fragment (#)")
    if url.query is not None:
        raise ValueError("a destination URL cannot have a query (?)")
    if url.username is not None or url.password is not None:
        raise ValueError("a destination URL cannot carry a user or password (use the Secret)")
    return url


# A tenant-chosen destination (checked again, on the address, when the worker connects).
DestinationUrl = Annotated[AnyHttpUrl, AfterValidator(_base_url)]
_HOSTNAME = r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$"


class Connection(SpecModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    api_token_secret_ref: SecretRef | None = None

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == META_CONNECTION:
            raise ValueError(f"{META_CONNECTION!r} names the Cloud API channel (spec.meta)")
        return value


class Agent(SpecModel):
    email: str = Field(min_length=3, max_length=200)
    password_secret_ref: SecretRef


class WhaticketSpec(SpecModel):
    # No URL means the sandbox channel: replies are recorded, nothing is sent.
    url: DestinationUrl | None = None
    variant: Variant = Variant.SAAS
    connections: list[Connection] = Field(min_length=1)
    agent: Agent | None = None
    handoff_queue_id: int | None = Field(default=None, ge=1)

    # The same rules as the CRD's CEL validations on spec.whaticket.
    @field_validator("connections")
    @classmethod
    def _unique_names(cls, value: list[Connection]) -> list[Connection]:
        return unique_by_name(value, "connection")

    @model_validator(mode="after")
    def _token_per_connection(self) -> WhaticketSpec:
        if self.url is not None and any(c.api_token_secret_ref is None for c in self.connections):
            raise ValueError("connections[].apiTokenSecretRef is required when url is set")
        return self


class WebhookSpec(SpecModel):
    # First = current; a second is accepted while rotating. Left out (or empty), the operator
    # generates a Secret ``<name>-webhook`` owned by the BotTenant; ``tenants apply`` needs one.
    secret_refs: list[SecretRef] = Field(default=[], max_length=2)


class LlmSpec(SpecModel):
    model: str = Field(default="gemini-2.5-flash", min_length=1, max_length=64)
    api_key_secret_ref: SecretRef | None = None
    monthly_token_budget: int | None = Field(default=None, ge=0)


class PersonaSpec(SpecModel):
    language: str = "pt-BR"
    system_prompt: str = Field(min_length=1, max_length=20_000)
    # Deprecated for messages.fallback and messages.wait, which win; literal text.
    fallback_message: str | None = Field(default=None, min_length=1, max_length=2000)
    wait_message: str | None = Field(default=None, min_length=1, max_length=2000)


# What every worker keeps of a tenant's knowledge is bounded here (and in the CRD), so one
# tenant's huge FAQ cannot crowd the others out of memory or the prompt index.
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 4000
MAX_KNOWLEDGE_ENTRIES = 5000


class KnowledgeEntry(SpecModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)


class ConfigMapRef(SpecModel):
    """A key of a ConfigMap in the BotTenant's namespace holding a YAML list of entries."""

    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


class KnowledgeSpec(SpecModel):
    entries: list[KnowledgeEntry] = Field(default=[], max_length=MAX_KNOWLEDGE_ENTRIES)
    # Larger sets live in ConfigMaps; their entries follow the inline ones.
    config_map_refs: list[ConfigMapRef] = Field(default=[], max_length=20)
    # What a turn's prompt gets: the best entries found, within both (docs/knowledge.md).
    max_entries_in_prompt: int = Field(default=5, ge=1, le=5)
    max_chars_in_prompt: int = Field(default=6000, ge=500, le=20_000)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


class BusinessHoursSpec(SpecModel):
    timezone: str = "America/Sao_Paulo"
    weekly: dict[Weekday, list[str]] = Field(default={})
    holidays: list[date] = Field(default=[])

    @field_validator("weekly")
    @classmethod
    def _ranges(cls, value: dict[Weekday, list[str]]) -> dict[Weekday, list[str]]:
        for day, ranges in value.items():
            for item in ranges:
                if not _HHMM_RANGE.match(item):
                    raise ValueError(f"{day.value}: {item!r} is not a HH:MM-HH:MM range")
        return value


class ConversationSpec(SpecModel):
    debounce_seconds: float = Field(default=3.0, ge=0, le=60)
    context_ttl_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    resume_bot_after_human_silence_minutes: int = Field(default=120, ge=1)
    max_context_messages: int = Field(default=20, ge=2, le=200)


class HandoffSpec(SpecModel):
    keywords: list[str] = Field(default=[])
    sla_minutes: int = Field(default=15, ge=1)


class RateLimitsSpec(SpecModel):
    per_contact_per_minute: int = Field(default=10, ge=1)
    per_tenant_per_minute: int = Field(default=600, ge=1)

    @model_validator(mode="after")
    def _contact_within_tenant(self) -> RateLimitsSpec:
        if self.per_contact_per_minute > self.per_tenant_per_minute:
            raise ValueError("perContactPerMinute cannot exceed perTenantPerMinute")
        return self


class FeaturesSpec(SpecModel):
    handoff: bool = True
    knowledge: bool = True
    fallback_channels: bool = False  # replies by spec.fallback when Whaticket cannot deliver
    audio: bool = False  # voice notes transcribed by Gemini before the turn answers
    images: bool = False  # images described by Gemini before the turn answers


class EventType(StrEnum):
    """What a workflow (n8n, a CRM) may subscribe to."""

    MESSAGE_RECEIVED = "message.received"
    TURN_ANSWERED = "turn.answered"
    HANDOFF_REQUESTED = "handoff.requested"
    HANDOFF_SLA_BREACHED = "handoff.sla_breached"
    DLQ_ADDED = "dlq.added"


class EventSubscription(SpecModel):
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    url: DestinationUrl
    events: list[EventType] = Field(min_length=1)
    # A Standard Webhooks secret (``whsec_`` + base64 of at least 24 bytes) to sign with.
    secret_ref: SecretRef
    enabled: bool = True


class EventsSpec(SpecModel):
    subscriptions: list[EventSubscription] = Field(default=[], max_length=10)

    @field_validator("subscriptions")
    @classmethod
    def _unique_names(cls, value: list[EventSubscription]) -> list[EventSubscription]:
        return unique_by_name(value, "subscription")

    def wanting(self, event: EventType) -> list[EventSubscription]:
        return [s for s in self.subscriptions if s.enabled and event in s.events]


class ActionsSpec(SpecModel):
    """Keys a tenant's workflows use to act (hand a conversation to a person, give it back);
    the first is current, a second is accepted while rotating."""

    api_key_secret_refs: list[SecretRef] = Field(default=[], max_length=2)


class FallbackChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class SmsFallback(SpecModel):
    """A Twilio-compatible SMS API (``POST /2010-04-01/Accounts/{sid}/Messages.json``)."""

    url: DestinationUrl = AnyHttpUrl("https://api.twilio.com")
    account_sid: str = Field(min_length=1, max_length=64)
    auth_token_secret_ref: SecretRef
    from_number: str = Field(pattern=r"^\+\d{8,15}$", description="E.164, as the gateway knows it")


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"  # only for a relay inside the cluster


class EmailFallback(SpecModel):
    # A name or an IP literal, nothing more: no port, path or user (port is its own field).
    host: str = Field(min_length=1, max_length=253, pattern=_HOSTNAME)
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = Field(default=None, max_length=200)
    password_secret_ref: SecretRef | None = None
    from_address: str = Field(min_length=3, max_length=200, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    subject: str | None = Field(default=None, max_length=200)  # None: in persona.language


class FallbackSpec(SpecModel):
    """Where a reply goes when Whaticket cannot deliver it (``features.fallbackChannels``)."""

    channels: list[FallbackChannel] = Field(
        default=[FallbackChannel.SMS, FallbackChannel.EMAIL], min_length=1, max_length=2
    )
    # While the connection's breaker is open, a reply waits this long before it falls back.
    after_seconds: float = Field(default=60.0, ge=0, le=3600)
    sms: SmsFallback | None = None
    email: EmailFallback | None = None


class DeliverySpec(SpecModel):
    """Replies a Whaticket connection could not deliver (its session down): once it is back, the
    waiting ones go out in order at ``replayPerMinute``; older than ``maxReplayAgeMinutes``, or
    overtaken by a newer turn, they stay dead letters (``stale``) instead of arriving out of
    context."""

    max_replay_age_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    replay_per_minute: int = Field(default=20, ge=1, le=60)


class MetaSpec(SpecModel):
    """The WhatsApp Cloud API as a second channel: Meta posts to ``/hooks/meta/<tenant>``
    (verified with ``verifyToken``, signed with the app secret), replies go to the Graph API
    as the business phone number ``phoneNumberId``."""

    phone_number_id: str = Field(pattern=r"^\d{5,32}$")
    verify_token_secret_ref: SecretRef
    app_secret_secret_ref: SecretRef
    access_token_secret_ref: SecretRef
    graph_url: DestinationUrl = AnyHttpUrl("https://graph.facebook.com")
    api_version: str = Field(default="v21.0", pattern=r"^v\d+\.\d+$")


# Label values a campaign may not take: they name the conversations no declared campaign claims.
RESERVED_CAMPAIGNS = frozenset({"none", "ad", "other"})


class Campaign(SpecModel):
    """Where conversations come from, for metrics by campaign: a click-to-WhatsApp ad (its id,
    or its link), or the prefilled text of a wa.me link (a keyword in the customer's words)."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    ad_ids: list[Annotated[str, Field(max_length=64)]] = Field(default=[], max_length=100)
    url_contains: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=20)
    keywords: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _claims_something(self) -> Campaign:
        if self.name in RESERVED_CAMPAIGNS:
            raise ValueError(f"campaign name {self.name!r} is reserved")
        if not (self.ad_ids or self.url_contains or self.keywords):
            raise ValueError("a campaign needs adIds, urlContains or keywords")
        return self


class BotTenantSpec(SpecModel):
    display_name: str = Field(min_length=1, max_length=200)
    enabled: bool = True
    whaticket: WhaticketSpec
    webhook: WebhookSpec = WebhookSpec()
    llm: LlmSpec = LlmSpec()
    persona: PersonaSpec
    knowledge: KnowledgeSpec = KnowledgeSpec()
    business_hours: BusinessHoursSpec = BusinessHoursSpec()
    conversation: ConversationSpec = ConversationSpec()
    handoff: HandoffSpec = HandoffSpec()
    rate_limits: RateLimitsSpec = RateLimitsSpec()
    features: FeaturesSpec = FeaturesSpec()
    events: EventsSpec = EventsSpec()
    actions: ActionsSpec = ActionsSpec()
    campaigns: list[Campaign] = Field(default=[], max_length=50)
    fallback: FallbackSpec = FallbackSpec()
    delivery: DeliverySpec = DeliverySpec()
    meta: MetaSpec | None = None
    messages: MessagesSpec = MessagesSpec()
    delegation: DelegationSpec = DelegationSpec()
    retention: RetentionSpec = RetentionSpec()

    @field_validator("campaigns")
    @classmethod
    def _unique_campaigns(cls, value: list[Campaign]) -> list[Campaign]:
        return unique_by_name(value, "campaign")

    @model_validator(mode="after")
    def _fallback_has_a_channel_and_messages_promise_what_is_configured(self) -> BotTenantSpec:
        if self.features.fallback_channels and not (self.fallback.sms or self.fallback.email):
            raise ValueError("features.fallbackChannels needs fallback.sms or fallback.email")
        self.messages.check(self.features.handoff, self.handoff.keywords, self.business_hours)
        return self

    def connection(self, name: str) -> Connection | None:
        return next((c for c in self.whaticket.connections if c.name == name), None)

    @property
    def searchable_knowledge(self) -> list[KnowledgeEntry]:
        """The entries a turn may search: none while the knowledge feature is off."""
        return self.knowledge.entries if self.features.knowledge else []

    @property
    def tickets_movable(self) -> bool:
        """Handoffs are on and an agent user can move tickets. Automatic handoffs (a failed turn,
        a spent budget) need it, so the promise that a person follows up is kept; a customer who
        asks for a person is handed over regardless (the SLA alert covers a missing agent)."""
        whaticket = self.whaticket
        return self.features.handoff and whaticket.agent is not None and whaticket.url is not None
