"""Who may send a webhook, kept in the queue Redis for the moments Postgres cannot say.

An api pod that cannot read the tenants table (Postgres down, and the tenant not in its cache:
the pod started during the outage, or the tenant is new to it) must neither turn a genuine webhook
away (Whaticket never retries) nor spool whatever arrives: a spool open to anyone on the internet
fills the queue Redis and names metric labels of the sender's choosing. Every api publishes, for
each tenant it loads from Postgres, what authenticating a webhook needs (enabled, connection
names, the hashes of the webhook secrets, never a secret), and a pod that cannot reach Postgres
admits only what this keyring admits. The replay checks the record against Postgres again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.core.logging import get_logger
from services.core.models import Tenant

from .credentials import matches_any_hash

log = get_logger(__name__)
KEY = "atende:tenants:webhook-keys"


@dataclass(frozen=True, slots=True)
class WebhookKeys:
    slug: str
    enabled: bool
    connections: tuple[str, ...]
    secret_hashes: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "enabled": self.enabled,
                "connections": list(self.connections),
                "secret_hashes": list(self.secret_hashes),
            }
        )

    @classmethod
    def of_row(cls, row: Tenant) -> WebhookKeys:
        """From the stored row, not its decrypted credentials: a tenant whose credentials this
        process cannot decrypt (a dropped key) still has its webhooks kept."""
        connections = row.spec.get("whaticket", {}).get("connections", [])
        return cls(
            slug=row.slug,
            enabled=row.enabled,
            connections=tuple(str(c["name"]) for c in connections if "name" in c),
            secret_hashes=tuple(row.webhook_secret_hashes),
        )

    @classmethod
    def from_json(cls, slug: str, raw: str | bytes) -> WebhookKeys:
        data = json.loads(raw)
        return cls(
            slug=slug,
            enabled=bool(data["enabled"]),
            connections=tuple(str(c) for c in data["connections"]),
            secret_hashes=tuple(str(h) for h in data["secret_hashes"]),
        )

    def admits(self, connection: str, secret_hash: str) -> bool:
        return (
            self.enabled
            and connection in self.connections
            and matches_any_hash(secret_hash, list(self.secret_hashes))
        )


class WebhookKeyring:
    """Publishing is best effort (Redis down: the previous entries stay, which is what a pod
    needs during a Postgres outage); looking up raises when Redis cannot answer."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis

    async def replace(self, everyone: Iterable[WebhookKeys]) -> None:
        """Every tenant at once (an api's start-up): tenants deleted since are dropped."""
        entries = {keys.slug: keys.to_json() for keys in everyone}
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(KEY)
                if entries:
                    pipe.hset(KEY, mapping=entries)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("webhook_keys.not_published", error=type(exc).__name__)

    async def publish(self, keys: WebhookKeys) -> None:
        try:
            await self._redis.hset(KEY, keys.slug, keys.to_json())  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("webhook_keys.not_published", error=type(exc).__name__)

    async def forget(self, slug: str) -> None:
        try:
            await self._redis.hdel(KEY, slug)  # type: ignore[misc]
        except (RedisError, OSError) as exc:
            log.warning("webhook_keys.not_published", error=type(exc).__name__)

    async def lookup(self, slug: str) -> WebhookKeys | None:
        raw = await self._redis.hget(KEY, slug)  # type: ignore[misc]
        return WebhookKeys.from_json(slug, raw) if raw is not None else None
