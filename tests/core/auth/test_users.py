"""The user list the CLI prints, with each user's tenant by name, and the check ``atende dev``
makes before seeding its admin (an e-mail is the same whatever its case)."""

from __future__ import annotations

from services.core.auth.roles import Role
from services.core.auth.sessions import create_user
from services.core.auth.users import user_exists, users_with_tenants
from services.core.db import SessionMaker, transaction
from services.core.tenants.queries import tenant_id_of
from tests.api.webhook_app import TENANT
from tests.core.audit.test_audit import _tenant

PASSWORD = "a long enough passphrase 42"


async def test_users_are_listed_with_their_tenant_and_found_by_email(
    clean_db: SessionMaker,
) -> None:
    await _tenant(clean_db)
    async with transaction(clean_db) as session:
        tenant_id = await tenant_id_of(session, TENANT)
        for email, role, tenant in (
            ("root@atende.example", Role.PLATFORM_ADMIN, None),
            ("ana@acme.example", Role.AGENT, tenant_id),
        ):
            await create_user(
                session, email=email, password=PASSWORD, role=role, tenant_id=tenant, actor="t"
            )
    async with clean_db() as session:
        listed = [(user.email, slug) for user, slug in await users_with_tenants(session)]
        assert await user_exists(session, "ANA@acme.example ")
        assert not await user_exists(session, "bob@acme.example")
    assert listed == [("root@atende.example", None), ("ana@acme.example", TENANT)]
