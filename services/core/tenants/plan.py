"""What an apply would do, without doing it: ``atende tenants apply --dry-run``.

The same checks as :func:`~services.core.tenants.service.apply_tenant` (schema, secrets, who owns
the name) and the same fingerprint decide the outcome, so the dry run and the apply agree; the
stored row is only read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import Tenant

from .credentials import CredentialCipher
from .manifest import SecretStore, TenantManifest
from .overlay import effective_for
from .service import FILE_SOURCE, _fingerprint, check_claim, resolve_credentials


@dataclass(frozen=True, slots=True)
class Plan:
    name: str
    outcome: Literal["created", "updated", "unchanged"]
    # Unified diff of the stored spec against the file's. Specs hold references to secrets,
    # never their values, so the diff is safe to print.
    diff: list[str]
    # Why an update with the same spec is one.
    note: str | None = None


def _spec_yaml(spec: dict[str, Any]) -> list[str]:
    # Sorted: Postgres keeps JSONB keys in its own order.
    return yaml.safe_dump(spec, sort_keys=True, allow_unicode=True).splitlines(keepends=True)


async def plan_tenant(
    session: AsyncSession,
    manifest: TenantManifest,
    secrets: SecretStore,
    cipher: CredentialCipher,
    *,
    source: str = FILE_SOURCE,
) -> Plan:
    credentials, hashes = resolve_credentials(manifest.name, manifest.spec, secrets)
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == manifest.name))
    if tenant is None:
        return Plan(manifest.name, "created", [])
    check_claim(tenant, source)
    same = tenant.spec_hash == _fingerprint(manifest.spec, credentials, hashes)
    current_key = cipher.is_current(tenant.credentials)
    if same and current_key:
        return Plan(manifest.name, "unchanged", [])
    in_force = await effective_for(session, tenant.id, manifest.spec)  # panel edits stay
    diff = list(
        difflib.unified_diff(
            _spec_yaml(tenant.spec),
            _spec_yaml(in_force.model_dump(mode="json", by_alias=True)),
            fromfile=f"bottenant/{manifest.name} (stored)",
            tofile=f"bottenant/{manifest.name} (file)",
        )
    )
    note = None
    if not diff:
        if same:
            note = "the spec is the same; the credentials are re-encrypted under the current key"
        elif not tenant.spec_hash:  # see disable_tenant
            note = "the spec is the same; the tenant was switched off and is switched on again"
        else:
            note = "the spec is the same; secret values differ"
    return Plan(manifest.name, "updated", diff, note)
