"""``atende secrets``: the platform key's keyring, as operators rotate it.

A rotation is: the new key as ``ATENDE_SECRET_KEY`` with the old one in
``ATENDE_PREVIOUS_SECRET_KEYS``, pods rolled, ``atende secrets reencrypt``, the old key dropped,
pods rolled again (docs/operations.md). Re-encrypting is what makes the last step safe: nothing
stored needs the old key any more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import click
from sqlalchemy import select

from services.cli.failures import CommandFailed
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.models import Tenant
from services.core.tenants.credentials import CredentialCipher, UndecryptableCredentials


@dataclass(slots=True)
class Reencrypted:
    rewritten: int = 0
    current: int = 0
    # Tenants whose credentials no key opens: re-apply them from their BotTenant or file.
    undecryptable: list[str] = field(default_factory=list)


async def reencrypt(settings: Settings) -> Reencrypted:
    """Every tenant's stored credentials under the current key, in one transaction; what is
    already current is left alone, so running it again rewrites nothing."""
    cipher = CredentialCipher.from_settings(settings)
    done = Reencrypted()
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            rows = await session.scalars(select(Tenant).order_by(Tenant.slug).with_for_update())
            for tenant in rows:
                if cipher.is_current(tenant.credentials):
                    done.current += 1
                    continue
                try:
                    tenant.credentials = cipher.rotate(tenant.credentials)
                except UndecryptableCredentials:
                    done.undecryptable.append(tenant.slug)
                    continue
                done.rewritten += 1
            await session.flush()
    finally:
        await engine.dispose()
    return done


@click.group("secrets")
def group() -> None:
    """The platform key (ATENDE_SECRET_KEY) and its previous keys."""


@group.command("reencrypt")
def reencrypt_command() -> None:
    """Rewrite every tenant's stored credentials under ATENDE_SECRET_KEY."""
    done = asyncio.run(reencrypt(get_settings()))
    click.echo(f"{done.rewritten} rewritten, {done.current} already current")
    if done.undecryptable:
        raise CommandFailed(
            [
                "no key in ATENDE_SECRET_KEY or ATENDE_PREVIOUS_SECRET_KEYS decrypts the "
                f"credentials of tenant {', '.join(done.undecryptable)}: re-apply it (its "
                "BotTenant, or atende tenants apply -f) to store them again"
            ]
        )
