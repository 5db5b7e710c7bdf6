"""Invitations on real Postgres: only the link's hash is stored, a link opens once and only
within its 72 hours, a revoked one opens nothing, a tenant admin invites into their own tenant
only and never a platform admin, and each step is in the audit log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.core.auth import invitations
from services.core.auth.accounts import Manager
from services.core.auth.invitations import InvitationUnusable
from services.core.auth.passwords import verify_password
from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from services.core.errors import InvalidInput, NotFound
from services.core.models import AuditEvent, User, UserInvitation
from tests.core.test_panel_queries import _tenant

PASSWORD = "convite-senha-boa-2026"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ROOT = Manager.platform("root@atende.test")


async def _tenants(db: SessionMaker) -> tuple[int, int]:
    async with transaction(db) as session:
        return await _tenant(session, "acme"), await _tenant(session, "other")


async def _invite(
    db: SessionMaker, manager: Manager, email: str, role: Role, tenant_id: int | None
) -> invitations.Issued:
    async with transaction(db) as session:
        return await invitations.invite(
            session, manager, email=email, role=role, tenant_id=tenant_id, now=T0
        )


async def _accept(db: SessionMaker, token: str, *, at: datetime, password: str = PASSWORD) -> User:
    async with transaction(db) as session:
        return await invitations.accept(session, token, password, now=at)


async def _audit(db: SessionMaker) -> list[tuple[str, str, int | None, str]]:
    async with db() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("user.%")).order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.tenant_id, e.details["email"]) for e in rows]


async def test_a_link_opens_once_and_only_its_hash_is_kept(clean_db: SessionMaker) -> None:
    acme, _ = await _tenants(clean_db)
    admin = Manager("admin@acme.test", acme, "admin@acme.test")
    issued = await _invite(clean_db, admin, "  Ana@Acme.Test ", Role.AGENT, None)
    assert (issued.email, issued.role, issued.tenant) == ("ana@acme.test", "agent", "acme")
    assert issued.expires_at == T0 + timedelta(hours=72)
    async with clean_db() as session:
        [row] = list(await session.scalars(select(UserInvitation)))
    assert row.token_hash == invitations.digest(issued.token)
    assert issued.token not in (row.token_hash, row.email, row.invited_by)
    assert len(issued.token) >= 40

    async with clean_db() as session:
        opened = await invitations.opened(session, issued.token, now=T0 + timedelta(hours=1))
    assert opened.email == "ana@acme.test"

    with pytest.raises(InvalidInput, match="at least 12 characters"):
        await _accept(clean_db, issued.token, at=T0 + timedelta(hours=1), password="curta")
    # Two browsers submit at once: one user, one acceptance.
    results = await asyncio.gather(
        _accept(clean_db, issued.token, at=T0 + timedelta(hours=2)),
        _accept(clean_db, issued.token, at=T0 + timedelta(hours=2)),
        return_exceptions=True,
    )
    users = [r for r in results if isinstance(r, User)]
    refused = [r for r in results if isinstance(r, InvitationUnusable)]
    assert len(users) == 1, results
    assert [r.reason for r in refused] == ["used"]
    user = users[0]
    assert (user.email, user.role, user.tenant_id, user.active) == (
        "ana@acme.test", "agent", acme, True,
    )  # fmt: skip
    assert await verify_password(user.password_hash, PASSWORD)
    with pytest.raises(InvitationUnusable) as again:
        await _accept(clean_db, issued.token, at=T0 + timedelta(hours=3))
    assert again.value.reason == "used"
    assert await _audit(clean_db) == [
        ("user.invited", "admin@acme.test", acme, "ana@acme.test"),
        ("user.created", "ana@acme.test", acme, "ana@acme.test"),
        ("user.invitation_accepted", "ana@acme.test", acme, "ana@acme.test"),
    ]


async def test_expired_revoked_and_forged_links_open_nothing(clean_db: SessionMaker) -> None:
    acme, _ = await _tenants(clean_db)
    late = await _invite(clean_db, ROOT, "late@acme.test", Role.VIEWER, acme)
    with pytest.raises(InvitationUnusable) as expired:
        await _accept(clean_db, late.token, at=T0 + timedelta(hours=72))
    assert expired.value.reason == "expired"
    async with clean_db() as session:  # one second earlier, it still opened
        await invitations.opened(session, late.token, now=T0 + timedelta(hours=72, seconds=-1))

    gone = await _invite(clean_db, ROOT, "gone@acme.test", Role.AGENT, acme)
    async with clean_db() as session:
        pending = await invitations.pending_invitations(session, ROOT, now=T0)
    assert [p.email for p in pending] == ["gone@acme.test", "late@acme.test"]
    async with transaction(clean_db) as session:
        await invitations.revoke(session, ROOT, gone.invitation_id, now=T0)
    with pytest.raises(NotFound):  # already revoked
        async with transaction(clean_db) as session:
            await invitations.revoke(session, ROOT, gone.invitation_id, now=T0)
    for token, reason in ((gone.token, "revoked"), (gone.token[:-2] + "xx", "unknown")):
        with pytest.raises(InvitationUnusable) as refused:
            await _accept(clean_db, token, at=T0 + timedelta(minutes=5))
        assert refused.value.reason == reason

    again = await _invite(clean_db, ROOT, "late@acme.test", Role.AGENT, acme)
    with pytest.raises(InvitationUnusable):  # inviting again replaced the first link
        await _accept(clean_db, late.token, at=T0 + timedelta(minutes=5))
    user = await _accept(clean_db, again.token, at=T0 + timedelta(minutes=5))
    assert user.role == "agent"
    async with clean_db() as session:
        assert await session.scalar(select(User.id).where(User.email == "gone@acme.test")) is None
    actions = [a for a, *_ in await _audit(clean_db)]
    assert actions == [
        "user.invited", "user.invited", "user.invitation_revoked", "user.invited",
        "user.created", "user.invitation_accepted",
    ]  # fmt: skip


async def test_a_tenant_admin_invites_into_their_own_tenant_only(clean_db: SessionMaker) -> None:
    acme, other = await _tenants(clean_db)
    admin = Manager("admin@acme.test", acme, "admin@acme.test")
    with pytest.raises(InvalidInput, match="only a platform admin"):
        await _invite(clean_db, admin, "boss@acme.test", Role.PLATFORM_ADMIN, None)
    with pytest.raises(NotFound):
        await _invite(clean_db, admin, "spy@other.test", Role.AGENT, other)
    peer = await _invite(clean_db, admin, "peer@acme.test", Role.TENANT_ADMIN, None)
    assert peer.tenant == "acme"

    theirs = await _invite(clean_db, ROOT, "x@other.test", Role.AGENT, other)
    # The same e-mail invited into acme leaves the other tenant's invitation alone.
    await _invite(clean_db, admin, "x@other.test", Role.VIEWER, None)
    async with clean_db() as session:
        seen = await invitations.pending_invitations(session, admin, now=T0)
    assert [p.email for p in seen] == ["x@other.test", "peer@acme.test"]  # acme's only
    with pytest.raises(NotFound):
        async with transaction(clean_db) as session:
            await invitations.revoke(session, admin, theirs.invitation_id, now=T0)
    async with clean_db() as session:
        still = await invitations.pending_invitations(session, ROOT, now=T0)
    assert ("x@other.test", "other") in [(p.email, p.tenant) for p in still]

    boss = await _invite(clean_db, ROOT, "boss@atende.test", Role.PLATFORM_ADMIN, None)
    user = await _accept(clean_db, boss.token, at=T0)
    assert (user.role, user.tenant_id) == ("platform_admin", None)
    with pytest.raises(InvalidInput, match="belongs to a tenant"):
        await _invite(clean_db, ROOT, "nobody@x.test", Role.AGENT, None)
    with pytest.raises(InvalidInput, match="a user with this e-mail exists"):
        await _invite(clean_db, ROOT, "BOSS@atende.test", Role.VIEWER, acme)
    with pytest.raises(InvalidInput, match="not an address"):
        await _invite(clean_db, admin, "not-an-email", Role.VIEWER, None)
    invited = [(a, t) for a, _, t, _ in await _audit(clean_db) if a == "user.invited"]
    assert invited == [
        ("user.invited", acme), ("user.invited", other), ("user.invited", acme),
        ("user.invited", None),
    ]  # fmt: skip
