"""The last step of every message to a customer: one attempt on its channel — Whaticket, the
Cloud API for conversations that came through Meta, or a fallback channel (SMS, e-mail) when
the tenant has them and Whaticket could not deliver. :mod:`.sending` decides when to try."""

from __future__ import annotations

from dataclasses import dataclass

from services.core.breaker import CircuitBreaker
from services.core.channels import email
from services.core.channels.whaticket.client import WhaticketClient
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.logging import get_logger
from services.core.metrics import BREAKER_REJECTIONS, SEND_ERRORS
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.messages import email_subject
from services.core.tenants.spec import META_CONNECTION, SIMULATOR_CONNECTION

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message about to be tried, with everything its channel needs; a courtesy notice that
    is not kept has no ids (and never goes by e-mail, whose headers thread by them)."""

    outbound_id: int | None
    conversation_id: int | None
    channel: str  # whaticket | meta | sandbox | sms | email
    connection: str
    phone: str | None
    email: str | None
    text: str


def channel_of(tenant: TenantConfig, connection: str) -> str:
    """Where messages of this conversation go: the panel's simulator and a tenant without a
    Whaticket URL answer into the sandbox (recorded, never sent)."""
    if connection == META_CONNECTION:
        return "meta"
    if tenant.spec.whaticket.url is None or connection == SIMULATOR_CONNECTION:
        return "sandbox"
    return "whaticket"


def provider_message_id(response: dict[str, object] | None) -> str | None:
    """The id the channel gave the message, where later delivery statuses name it."""
    found = (response or {}).get("wamid")
    return found if isinstance(found, str) else None


def breaker_name(tenant: TenantConfig, message: Outgoing) -> str:
    """One breaker per Whaticket connection, one per fallback channel of a tenant."""
    if message.channel == "whaticket":
        return connection_breaker(tenant, message.connection)
    return f"{message.channel}:{tenant.slug}"


def connection_breaker(tenant: TenantConfig, connection: str) -> str:
    """The name of a Whaticket connection's breaker."""
    return f"whaticket:{tenant.slug}:{connection}"


async def _send_whaticket(
    whaticket: WhaticketClient,
    tenant: TenantConfig,
    connection: str,
    phone: str | None,
    text: str,
) -> dict[str, object] | None:
    """Send ``text`` through the connection's API token; Whaticket's answer, kept as evidence."""
    if phone is None:
        raise PermanentError("contact_without_phone", "the contact is known only by @lid")
    token = tenant.credentials.whaticket_tokens.get(connection)
    if not token or tenant.spec.whaticket.url is None:
        raise PermanentError("whaticket_not_configured", f"no token for connection {connection}")
    result = await whaticket.send_text(
        base_url=str(tenant.spec.whaticket.url),
        variant=tenant.spec.whaticket.variant,
        token=token,
        number=phone,
        body=text,
    )
    return dict(result.provider_response) if result.provider_response else None


async def breaker_wait(breaker: CircuitBreaker, channel: str) -> float | None:
    """None when a send may go now; else how long the channel's breaker keeps it shut
    (counted: a message held back, not an attempt)."""
    if channel == "sandbox":
        return None
    decision = await breaker.allow()
    if decision.allowed:
        return None
    BREAKER_REJECTIONS.labels(channel).inc()
    return decision.retry_after


async def attempt(
    deps: Runtime, tenant: TenantConfig, breaker: CircuitBreaker, message: Outgoing
) -> dict[str, object] | None:
    """One attempt at a stored message: the sandbox records it, its channel sends it; the
    breaker and the error counter learn how it went, and a failure is raised as it came."""
    if message.channel == "sandbox":
        log.info("sandbox.reply", to=message.phone, text=message.text)
        return {"sandbox": True}
    try:
        response = await _send(deps, tenant, message)
    except DependencyError as exc:
        SEND_ERRORS.labels(tenant.slug, exc.error_class).inc()
        if isinstance(exc, TransientError):
            await breaker.record_failure()
        else:  # the other end answered (a bad token, a bad number): it is up
            await breaker.record_success()
        raise
    await breaker.record_success()
    return response


async def _send(deps: Runtime, tenant: TenantConfig, message: Outgoing) -> dict[str, object] | None:
    fallback, credentials = tenant.spec.fallback, tenant.credentials
    if message.channel == "meta":
        if tenant.spec.meta is None or message.phone is None:
            raise PermanentError("meta_not_configured", "no spec.meta or no phone")
        token = credentials.meta_access_token or ""
        return await deps.cloud_api.send_text(
            tenant.spec.meta, token, to=message.phone, body=message.text
        )
    if message.channel == "sms":
        if fallback.sms is None or message.phone is None:
            raise PermanentError("sms_not_configured", "no fallback.sms or no phone")
        token = credentials.sms_auth_token or ""
        return await deps.sms.send(fallback.sms, token, to=message.phone, body=message.text)
    if message.channel == "email":
        if fallback.email is None or message.email is None:
            raise PermanentError("email_not_configured", "no fallback.email or no address")
        if message.outbound_id is None or message.conversation_id is None:
            raise PermanentError("email_not_stored", "an e-mail threads by stored ids")
        composed = email.compose(
            fallback.email,
            to=message.email,
            subject=email_subject(fallback.email.subject, tenant.spec.persona.language),
            text=message.text,
            display_name=tenant.spec.display_name,
            outbound_id=message.outbound_id,
            conversation_id=message.conversation_id,
        )
        return await deps.email.send(fallback.email, credentials.smtp_password, composed)
    return await _send_whaticket(
        deps.whaticket, tenant, message.connection, message.phone, message.text
    )
