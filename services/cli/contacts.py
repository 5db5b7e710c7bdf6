"""``atende contacts``: answering a data-subject request (LGPD art. 18) for one customer.

``export TENANT PHONE`` prints everything stored about the customer as one JSON document
(docs/privacy.md describes it); ``forget TENANT PHONE`` erases them from Postgres and Redis
and prints what it erased, recorded in the audit log under a keyed hash of the phone with the
OS user who ran it. Both act as a platform admin; an unknown tenant or a malformed phone exits
with code 1, a customer with nothing stored is not an error (the answer is "nothing").
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker
from services.core.privacy import requests
from services.core.redis import create_redis

from . import admin


async def export_document(settings: Settings, tenant: str, phone: str) -> dict[str, Any]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return await requests.export_contact(
            create_sessionmaker(engine), settings, tenant, phone, actor=admin.os_actor()
        )
    finally:
        await engine.dispose()


async def forget(settings: Settings, tenant: str, phone: str) -> requests.Forgotten:
    engine = create_engine(settings.database_url, pool_size=1)
    queue = create_redis(settings.redis_url)
    cache = create_redis(settings.cache_redis_url) if settings.cache_redis_url else queue
    try:
        return await requests.forget_contact(
            create_sessionmaker(engine),
            queue,
            cache,
            settings,
            tenant,
            phone,
            actor=admin.os_actor(),
            spool_dir=settings.spool_dir,
        )
    finally:
        await engine.dispose()
        await queue.aclose()
        if cache is not queue:
            await cache.aclose()


@click.group("contacts")
def group() -> None:
    """A customer's data: export it, or erase it (LGPD data-subject requests)."""


@group.command("export")
@click.argument("tenant")
@click.argument("phone")
def export_command(tenant: str, phone: str) -> None:
    """Print everything stored about PHONE at TENANT as JSON."""
    document = asyncio.run(export_document(get_settings(), tenant, phone))
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@group.command("forget")
@click.argument("tenant")
@click.argument("phone")
def forget_command(tenant: str, phone: str) -> None:
    """Erase PHONE at TENANT everywhere; only an audit record that it happened is kept.
    Repeating it is harmless."""
    done = asyncio.run(forget(get_settings(), tenant, phone))
    erased = done.erasure.erased
    rows = ", ".join(f"{count} {kind}" for kind, count in erased.items() if count) or "no rows"
    click.echo(f"forgot {phone} at {tenant}: {rows}")
    click.echo(
        f"redis: {done.redis.keys} keys, {done.redis.jobs} jobs, {done.redis.spooled} spooled "
        "webhooks"
    )
    click.echo(f"audit event {done.erasure.audit_id}, subject {done.erasure.subject}")
    if done.in_flight:
        click.echo(
            "a turn was in flight: run this again after ATENDE_LEASE_SECONDS to remove what "
            "it may have cached since",
            err=True,
        )
