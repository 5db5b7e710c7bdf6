"""Inviting someone to the panel: an e-mail, a role and a tenant, and a one-time link.

There is no platform e-mail, so the inviter passes the link on. Only the link token's SHA-256
is stored; the link opens once (accepting is one ``UPDATE … WHERE`` that a second use, an
expired or a revoked invitation cannot match), within :data:`VALID_HOURS`. Inviting an e-mail
again replaces its pending invitation (one the inviter may manage: another tenant's stays). A
tenant admin invites into their own tenant only, with no role above their own; a platform admin
anyone anywhere. Inviting, accepting and revoking are audited on the invitation's tenant.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.errors import AtendeError, InvalidInput, NotFound
from services.core.models import Tenant, User, UserInvitation

from .accounts import Manager
from .passwords import check_password_policy
from .roles import Role
from .sessions import create_user, normalize_email

VALID_HOURS = 72
INVITE_PATH = "/panel/invite/"  # + the token: the page that opens the invitation


def link(panel_url: str, token: str) -> str:
    """What the inviter passes on: where people reach the panel, and the one-time token."""
    return f"{panel_url.rstrip('/')}{INVITE_PATH}{token}"


class InvitationUnusable(AtendeError):
    """The link opens nothing: ``reason`` is unknown, expired, used or revoked."""

    status_code = 410

    def __init__(self, reason: str) -> None:
        super().__init__(f"this invitation link is {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Issued:
    invitation_id: int
    email: str
    role: str
    tenant: str | None
    expires_at: datetime
    token: str  # shown once, to the inviter; never stored


@dataclass(frozen=True, slots=True)
class Pending:
    id: int
    email: str
    role: str
    tenant: str | None
    invited_by: str
    expires_at: datetime


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check(manager: Manager, email: str, role: Role, tenant_id: int | None) -> int | None:
    """The invitation's tenant, or InvalidInput saying what is wrong."""
    if "@" not in email or len(email) > 200:
        raise InvalidInput("the e-mail is not an address")
    if manager.tenant_id is not None:
        if role is Role.PLATFORM_ADMIN:
            raise InvalidInput("only a platform admin can invite a platform admin")
        if tenant_id is not None and tenant_id != manager.tenant_id:
            raise NotFound("no such tenant")
        return manager.tenant_id
    if role is Role.PLATFORM_ADMIN:
        if tenant_id is not None:
            raise InvalidInput("a platform admin belongs to no tenant")
        return None
    if tenant_id is None:
        raise InvalidInput(f"a {role.value} belongs to a tenant (--tenant)")
    return tenant_id


async def invite(
    session: AsyncSession,
    manager: Manager,
    *,
    email: str,
    role: Role,
    tenant_id: int | None,
    now: datetime,
) -> Issued:
    address = normalize_email(email)
    tenant_id = _check(manager, address, role, tenant_id)
    if await session.scalar(select(User.id).where(User.email == address)) is not None:
        raise InvalidInput("a user with this e-mail exists")
    slug = None
    if tenant_id is not None:
        slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
        if slug is None:
            raise NotFound("no such tenant")
    await session.execute(
        update(UserInvitation)
        .where(*_pending(now), *_scoped(manager), UserInvitation.email == address)
        .values(revoked_at=now)
    )
    token = secrets.token_urlsafe(32)
    row = UserInvitation(
        email=address,
        role=role.value,
        tenant_id=tenant_id,
        token_hash=digest(token),
        invited_by=manager.actor[:200],
        expires_at=now + timedelta(hours=VALID_HOURS),
    )
    session.add(row)
    await session.flush()
    await record(
        session,
        actor=manager.actor,
        action="user.invited",
        tenant_id=tenant_id,
        details={"email": address, "role": role.value, "invitation": row.id},
    )
    return Issued(row.id, address, role.value, slug, row.expires_at, token)


def _pending(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        UserInvitation.accepted_at.is_(None),
        UserInvitation.revoked_at.is_(None),
        UserInvitation.expires_at > now,
    )


def _scoped(manager: Manager) -> tuple[ColumnElement[bool], ...]:
    if manager.tenant_id is None:
        return ()
    return (UserInvitation.tenant_id == manager.tenant_id,)


async def pending_invitations(
    session: AsyncSession, manager: Manager, *, now: datetime
) -> list[Pending]:
    """The invitations still open that this manager may see, newest first."""
    rows = await session.execute(
        select(UserInvitation, Tenant.slug)
        .outerjoin(Tenant, Tenant.id == UserInvitation.tenant_id)
        .where(*_pending(now), *_scoped(manager))
        .order_by(UserInvitation.id.desc())
    )
    return [
        Pending(i.id, i.email, i.role, slug, i.invited_by, i.expires_at) for i, slug in rows.all()
    ]


async def revoke(
    session: AsyncSession, manager: Manager, invitation_id: int, *, now: datetime
) -> None:
    """The link stops working (NotFound: no open invitation of this manager's)."""
    row = (
        await session.execute(
            update(UserInvitation)
            .where(UserInvitation.id == invitation_id, *_pending(now), *_scoped(manager))
            .values(revoked_at=now)
            .returning(UserInvitation.email, UserInvitation.tenant_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such invitation")
    await record(
        session,
        actor=manager.actor,
        action="user.invitation_revoked",
        tenant_id=row.tenant_id,
        details={"email": row.email, "invitation": invitation_id},
    )


async def opened(session: AsyncSession, token: str, *, now: datetime) -> UserInvitation:
    """The invitation a link opens, still unused (InvitationUnusable says why not)."""
    row = await session.scalar(
        select(UserInvitation).where(UserInvitation.token_hash == digest(token))
    )
    if row is None:
        raise InvitationUnusable("unknown")
    if row.accepted_at is not None:
        raise InvitationUnusable("used")
    if row.revoked_at is not None:
        raise InvitationUnusable("revoked")
    if row.expires_at <= now:
        raise InvitationUnusable("expired")
    return row


async def accept(session: AsyncSession, token: str, password: str, *, now: datetime) -> User:
    """The invited user, created with ``password``; the link is used up in the same
    transaction (InvalidInput when the policy refuses the password: the link still works)."""
    if problems := check_password_policy(password):
        raise InvalidInput("; ".join(problems))
    taken = await session.scalar(
        update(UserInvitation)
        .where(UserInvitation.token_hash == digest(token), *_pending(now))
        .values(accepted_at=now)
        .returning(UserInvitation)
    )
    if taken is None:
        await opened(session, token, now=now)  # raises with the reason
        raise InvitationUnusable("unknown")
    try:
        user = await create_user(
            session,
            email=taken.email,
            password=password,
            role=Role(taken.role),
            tenant_id=taken.tenant_id,
            actor=taken.email,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    taken.user_id = user.id
    await session.flush()
    await record(
        session,
        actor=taken.email,
        action="user.invitation_accepted",
        tenant_id=taken.tenant_id,
        details={"email": taken.email, "role": taken.role, "invitation": taken.id},
    )
    return user
