"""Finding a tenant by name, as the CLI and the panel do: one answer for a missing tenant and for
one outside the caller's scope, so names cannot be probed; and re-encrypting every tenant's
credentials under the current key, a second run rewriting nothing."""

from __future__ import annotations

import pytest

from services.core.db import SessionMaker, transaction
from services.core.errors import NotFound
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.queries import tenant_by_slug, tenant_id_of, visible_tenant
from services.core.tenants.rekey import reencrypt_all
from tests.api.webhook_app import TENANT
from tests.core.audit.test_audit import _tenant  # applied under the key "k" * 32


async def test_a_tenant_by_name_and_within_a_scope(clean_db: SessionMaker) -> None:
    await _tenant(clean_db)
    async with clean_db() as session:
        tenant = await tenant_by_slug(session, TENANT)
        assert await tenant_id_of(session, TENANT) == tenant.id
        assert (await visible_tenant(session, None, TENANT)).id == tenant.id
        assert (await visible_tenant(session, [tenant.id], TENANT)).id == tenant.id
        for missing in (
            tenant_by_slug(session, "nobody"),
            tenant_id_of(session, "nobody"),
            visible_tenant(session, [tenant.id + 1], TENANT),
            visible_tenant(session, None, "nobody"),
        ):
            with pytest.raises(NotFound, match="no tenant '"):
                await missing


async def test_reencrypting_rewrites_old_keys_names_unreadable_and_is_idempotent(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    rotated = CredentialCipher("n" * 32, ["k" * 32])
    async with transaction(clean_db) as session:
        first = await reencrypt_all(session, rotated)
    async with transaction(clean_db) as session:
        second = await reencrypt_all(session, rotated)
    async with transaction(clean_db) as session:
        unknown = await reencrypt_all(session, CredentialCipher("z" * 32))
    assert (first.rewritten, first.current, first.undecryptable) == (1, 0, [])
    assert (second.rewritten, second.current) == (0, 1)
    assert (unknown.rewritten, unknown.undecryptable) == (0, [TENANT])
    async with clean_db() as session:
        tenant = await tenant_by_slug(session, TENANT)
    assert rotated.is_current(tenant.credentials)
