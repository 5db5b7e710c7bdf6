"""``atende audit``: the audit log's hash chain, checked with this environment's keys.

``verify`` recomputes every row's HMAC with ``ATENDE_SECRET_KEY`` and
``ATENDE_PREVIOUS_SECRET_KEYS`` (services/core/audit): exit code 1 when the chain is broken;
rows under a key no longer in the keyring are counted as not checked, which is not a failure.
"""

from __future__ import annotations

import asyncio

import click

from services.cli.failures import CommandFailed
from services.core.audit.keys import AuditKeyring
from services.core.audit.service import ChainCheck, verify
from services.core.config import Settings, get_settings
from services.core.db import create_engine, create_sessionmaker


async def check_chain(settings: Settings) -> ChainCheck:
    keyring = AuditKeyring.from_settings(settings)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            return await verify(session, keyring)
    finally:
        await engine.dispose()


@click.group("audit")
def group() -> None:
    """The audit log of operators' actions."""


@group.command("verify")
def verify_command() -> None:
    """Check the whole hash chain; exit 1 if a row was edited, removed or forged."""
    check = asyncio.run(check_chain(get_settings()))
    if not check.ok:
        raise CommandFailed([f"audit log: {check.summary}"])
    click.echo(f"audit log: {check.summary}")
