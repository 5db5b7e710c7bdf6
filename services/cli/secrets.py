"""``atende secrets``: the platform key's keyring, as operators rotate it.

A rotation is: the new key as ``ATENDE_SECRET_KEY`` with the old one in
``ATENDE_PREVIOUS_SECRET_KEYS``, pods rolled, ``atende secrets reencrypt``, the old key dropped,
pods rolled again (docs/operations.md). Re-encrypting is what makes the last step safe: nothing
stored needs the old key any more.
"""

from __future__ import annotations

import asyncio

import click

from services.cli.failures import CommandFailed
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker, transaction
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.rekey import Reencrypted, reencrypt_all


async def reencrypt(settings: Settings) -> Reencrypted:
    """Every tenant's stored credentials under the current key, in one transaction."""
    cipher = CredentialCipher.from_settings(settings)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await reencrypt_all(session, cipher)
    finally:
        await engine.dispose()


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
