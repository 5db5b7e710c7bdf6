"""Webhooks for a tenant this process cannot look up, because Postgres cannot answer.

Only what the platform's webhook keyring (:mod:`services.core.tenants.webhook_keys`) admits is
spooled: anything else is refused with 503 (it cannot be verified now) rather than kept, so a
stranger cannot fill the spool, and only a tenant the keyring knows is ever named in a metric.
The spooled record keeps the offered secret's hash: the replay authenticates it once more
against Postgres before storing anything.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from services.core.errors import NotFound, Unauthorized, Unavailable
from services.core.tenants.webhook_keys import WebhookKeyring

from .counts import counted

UNVERIFIABLE = "the tenant cannot be verified while the database is unreachable; retry later"


async def admit(
    keyring: WebhookKeyring | None, slug: str, connection: str, secret_hash: str
) -> None:
    """Raises unless ``keyring`` admits the request: Unavailable when it cannot say (the
    tenant unknown to it, or Redis down too), NotFound or Unauthorized when it says no."""
    try:
        keys = await keyring.lookup(slug) if keyring is not None else None
    except (RedisError, OSError):
        keys = None
    if keys is None:
        counted("unknown", "unverifiable")
        raise Unavailable(UNVERIFIABLE)
    if not keys.enabled:
        counted("unknown", "unknown_tenant")
        raise NotFound("unknown tenant")
    if connection not in keys.connections:
        counted(slug, "unknown_connection")
        raise NotFound(f"unknown connection {connection!r} for this tenant")
    if not keys.admits(connection, secret_hash):
        counted(slug, "unauthorized")
        raise Unauthorized()
