"""Every tenant's stored credentials rewritten under the platform's current key.

The step of a key rotation that makes dropping the old key safe (docs/operations.md): nothing
stored needs it any more. What is already current is left alone, so running it again rewrites
nothing; what no key opens is named, never guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Tenant

from .credentials import CredentialCipher, UndecryptableCredentials


@dataclass(slots=True)
class Reencrypted:
    rewritten: int = 0
    current: int = 0
    # Tenants whose credentials no key opens: re-apply them from their BotTenant or file.
    undecryptable: list[str] = field(default_factory=list)


async def reencrypt_all(session: AsyncSession, cipher: CredentialCipher) -> Reencrypted:
    """In the caller's transaction, every row locked so that an apply cannot interleave."""
    done = Reencrypted()
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
    return done
