"""The last step of every message to a customer: the tenant's Whaticket send endpoint."""

from __future__ import annotations

from services.core.breaker import CircuitBreaker
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.logging import get_logger
from services.core.metrics import BREAKER_REJECTIONS, SEND_ERRORS
from services.core.simulator import SIMULATOR_CONNECTION
from services.core.tenants.directory import TenantConfig
from services.core.whaticket.client import WhaticketClient

log = get_logger(__name__)


def channel_of(tenant: TenantConfig, connection: str) -> str:
    """Where messages of this conversation go: the panel's simulator and a tenant without a
    Whaticket URL answer into the sandbox (recorded, never sent)."""
    if tenant.spec.whaticket.url is None or connection == SIMULATOR_CONNECTION:
        return "sandbox"
    return "whaticket"


async def deliver_text(
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
    """None when a send may go now; else how long the connection's breaker keeps it shut
    (counted: a message held back, not an attempt)."""
    if channel == "sandbox":
        return None
    decision = await breaker.allow()
    if decision.allowed:
        return None
    BREAKER_REJECTIONS.labels("whaticket").inc()
    return decision.retry_after


async def attempt(
    whaticket: WhaticketClient,
    tenant: TenantConfig,
    breaker: CircuitBreaker,
    *,
    channel: str,
    connection: str,
    phone: str | None,
    text: str,
) -> dict[str, object] | None:
    """One attempt at a stored message: the sandbox records it, Whaticket sends it; the
    breaker and the error counter learn how it went, and a failure is raised as it came."""
    if channel == "sandbox":
        log.info("sandbox.reply", to=phone, text=text)
        return {"sandbox": True}
    try:
        response = await deliver_text(whaticket, tenant, connection, phone, text)
    except DependencyError as exc:
        SEND_ERRORS.labels(tenant.slug, exc.error_class).inc()
        if isinstance(exc, TransientError):
            await breaker.record_failure()
        else:  # Whaticket answered (a bad token, a bad number): it is up
            await breaker.record_success()
        raise
    await breaker.record_success()
    return response
