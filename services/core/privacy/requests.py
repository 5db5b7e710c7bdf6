"""A data-subject request from start to end, the same for the CLI, the panel and the action
API: like a turn, a series of steps each guarded by what it finds, so it is safe to repeat.

Forget, in order:

1. Redis first: the spooled webhooks and queued jobs of the customer (and this host's disk
   spool), so none of them writes the customer back while Postgres is being erased.
2. One transaction: the contact and conversation rows locked, every row erased, one audit row
   (``contact.forgotten``, the keyed hash, the counts). Committed here.
3. Redis again, after the commit: what a turn already in flight cached or queued in between,
   then the context, summaries, limits and knowledge cache.

The residual window: a turn that read its history before step 2 and writes its context after
step 3 leaves that context in the cache Redis until ``contextTtlMinutes`` expires it (its
Postgres writes fail on the erased rows). ``in_flight`` says a turn held a lease at step 2:
repeating the request after the lease ends (ATENDE_LEASE_SECONDS) removes it at once: the
cache keys it may write are kept for a day (names only, under the keyed hash) for that repeat.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.metrics import CONTACTS_FORGOTTEN
from services.core.tenants.queries import visible_tenant

from .export import export
from .forget import Erasure, forget
from .subject import Subject, find_subject, normalize_phone, subject_hash
from .volatile import (
    Scrubbed,
    remember,
    scrub_cache,
    scrub_disk,
    scrub_queue,
    scrub_remembered,
)

EXPORTED = "contact.exported"
_LEASED = text("SELECT count(*) FROM conversations WHERE id = ANY(:ids) AND lease_until > now()")


@dataclass(frozen=True, slots=True)
class Forgotten:
    erasure: Erasure
    redis: Scrubbed
    in_flight: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.erasure.as_dict(),
            "redis": {
                "keys": self.redis.keys,
                "jobs": self.redis.jobs,
                "spooled": self.redis.spooled,
            },
            "in_flight": self.in_flight,
        }


async def _subject(
    session: AsyncSession,
    tenant: str,
    phone: str,
    scope: Collection[int] | None,
    *,
    lock: bool = False,
) -> Subject:
    """The customer ``phone`` of ``tenant`` if ``scope`` may see the tenant (NotFound else)."""
    row = await visible_tenant(session, scope, tenant)
    return await find_subject(session, row.id, row.slug, normalize_phone(phone), lock=lock)


async def export_contact(
    sessionmaker: SessionMaker,
    settings: Settings,
    tenant: str,
    phone: str,
    *,
    actor: str,
    scope: Collection[int] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The export document (one repeatable-read snapshot, so its parts agree). Reading a
    customer's data is itself recorded: ``contact.exported``, by the keyed hash."""
    async with transaction(sessionmaker) as session:
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        subject = await _subject(session, tenant, phone, scope)
        document = await export(session, subject, now or datetime.now(UTC))
        await record(
            session,
            actor=actor,
            action=EXPORTED,
            tenant_id=subject.tenant_id,
            details={
                "subject": subject_hash(settings, subject.tenant_id, subject.phone),
                "found": subject.found,
            },
        )
        return document


async def forget_contact(
    sessionmaker: SessionMaker,
    queue: Redis,
    cache: Redis,
    settings: Settings,
    tenant: str,
    phone: str,
    *,
    actor: str,
    scope: Collection[int] | None = None,
    spool_dir: Path | None = None,
) -> Forgotten:
    """Erase the customer everywhere (module docstring); safe to repeat. ``spool_dir``: this
    host's disk spool, scrubbed too."""
    async with sessionmaker() as session:
        before = await _subject(session, tenant, phone, scope)
    scrubbed = await scrub_queue(queue, before)
    if spool_dir is not None:
        scrubbed.spooled += scrub_disk(spool_dir, before)
    async with transaction(sessionmaker) as session:
        subject = await _subject(session, tenant, phone, scope, lock=True)
        leased = await session.scalar(_LEASED, {"ids": list(subject.conversation_ids)})
        erasure = await forget(session, settings, subject, actor=actor)
    CONTACTS_FORGOTTEN.labels(subject.tenant).inc()
    scrubbed.add(await scrub_remembered(cache, erasure.subject))
    for subject_now in (before, subject):
        scrubbed.add(await scrub_queue(queue, subject_now))
        scrubbed.add(await scrub_cache(cache, subject_now))
    if leased:  # what the turn may still cache goes when the request is repeated
        await remember(cache, erasure.subject, (before, subject))
    return Forgotten(erasure, scrubbed, bool(leased))
