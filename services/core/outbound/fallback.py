"""Fallback channels: when Whaticket cannot deliver a stored message, the tenant's SMS or
e-mail does (``features.fallbackChannels``, ``spec.fallback``).

A message falls back only when Whaticket surely did not deliver it — its breaker stayed open
past ``fallback.afterSeconds`` (nothing was tried), or its retries ran out on failures that say
"not sent" (the session down, a refused connection, a 503). After an ambiguous failure (a
timeout, a 500) the customer may already have the reply on WhatsApp: it does not fall back,
so nobody gets it twice. The switch happens on the stored row, so when Whaticket recovers there
is nothing left for it to send: the message is the same, its turn and conversation too.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.logging import get_logger
from services.core.metrics import FALLBACKS
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import FallbackChannel

from . import records

log = get_logger(__name__)


def choose(tenant: TenantConfig, phone: str | None, email: str | None) -> str | None:
    """The first of the tenant's fallback channels that can reach this contact, or None."""
    spec = tenant.spec
    if not spec.features.fallback_channels:
        return None
    for channel in spec.fallback.channels:
        if channel is FallbackChannel.SMS and spec.fallback.sms is not None and phone:
            return channel.value
        if channel is FallbackChannel.EMAIL and spec.fallback.email is not None and email:
            return channel.value
    return None


async def switch(
    session: AsyncSession, tenant: TenantConfig, outbound_id: int, channel: str, reason: str
) -> bool:
    """Move a stored Whaticket message to ``channel``, its attempts counted afresh; False if it
    had already moved (another job got there first)."""
    if not await records.switch_channel(session, outbound_id, channel, reason):
        return False
    FALLBACKS.labels(tenant.slug, channel, reason).inc()
    log.warning("send.fallback", outbound_id=outbound_id, channel=channel, reason=reason)
    return True
