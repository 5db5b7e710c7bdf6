"""Managing users after they exist: disable and enable, change a role, end every session,
set a new password. The CLI, the panel and ``/api/v1`` call these; each is audited on the
user's tenant and ends all of the user's sessions in the same transaction, and because every
request checks its session against the user (:func:`.sessions.session_still_valid`), the next
request of any of them is refused.

A platform admin manages everyone; a tenant admin only the users of their own tenant, never a
platform admin, and may give no role above their own. Anyone else's user is NotFound, as for a
user that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.errors import InvalidInput, NotFound
from services.core.models import RefreshToken, Tenant, User

from .passwords import check_password_policy, hash_password
from .roles import Principal, Role
from .sessions import normalize_email


@dataclass(frozen=True, slots=True)
class Manager:
    """Who is managing: the audit's actor and the tenant they are limited to (None: all)."""

    actor: str
    tenant_id: int | None
    email: str | None = None  # a panel user, who may not disable or demote themselves

    @classmethod
    def of(cls, principal: Principal) -> Manager:
        return cls(principal.email, principal.tenant_scope(), principal.email)

    @classmethod
    def platform(cls, actor: str) -> Manager:
        return cls(actor, None)


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    role: str
    tenant: str | None
    active: bool
    sessions: int  # live ones


async def accounts(session: AsyncSession, manager: Manager) -> list[Account]:
    """The users this manager may manage, by e-mail."""
    live = (
        select(func.count(func.distinct(RefreshToken.family)))
        .where(
            RefreshToken.user_id == User.id,
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > func.now(),
        )
        .scalar_subquery()
    )
    query = (
        select(User, Tenant.slug, live)
        .outerjoin(Tenant, Tenant.id == User.tenant_id)
        .order_by(User.email)
    )
    if manager.tenant_id is not None:
        query = query.where(User.tenant_id == manager.tenant_id)
    rows = await session.execute(query)
    return [
        Account(user.id, user.email, user.role, slug, user.active, int(count))
        for user, slug, count in rows.all()
    ]


async def managed_user(
    session: AsyncSession, manager: Manager, *, user_id: int | None = None, email: str = ""
) -> User:
    """The user by id or e-mail, locked for the change, if this manager may manage them."""
    query = select(User).with_for_update()
    if user_id is not None:
        query = query.where(User.id == user_id)
    else:
        query = query.where(User.email == normalize_email(email))
    user = await session.scalar(query)
    if user is None or not _may_manage(manager, user):
        raise NotFound("no such user")
    return user


def _may_manage(manager: Manager, user: User) -> bool:
    if manager.tenant_id is None:
        return True
    return user.tenant_id == manager.tenant_id and user.role != Role.PLATFORM_ADMIN.value


def _not_yourself(manager: Manager, user: User, what: str) -> None:
    if manager.email is not None and manager.email == user.email:
        raise InvalidInput(f"you cannot {what} your own account; ask another admin")


async def _revoke_all(session: AsyncSession, user: User) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(RefreshToken.family)
    )
    return len(set(result.scalars().all()))


async def _audit(
    session: AsyncSession, manager: Manager, user: User, action: str, **details: object
) -> None:
    await record(
        session,
        actor=manager.actor,
        action=action,
        tenant_id=user.tenant_id,
        details={"email": user.email, **details},
    )


async def revoke_sessions(session: AsyncSession, manager: Manager, user: User) -> int:
    """End every session of the user (they sign in again); how many were live."""
    ended = await _revoke_all(session, user)
    await _audit(session, manager, user, "user.sessions_revoked", sessions=ended)
    return ended


async def set_active(session: AsyncSession, manager: Manager, user: User, active: bool) -> bool:
    """Disable (every session ends) or enable again; False when it already was so."""
    if not active:
        _not_yourself(manager, user, "disable")
    ended = await _revoke_all(session, user) if not active else 0
    if user.active == active:
        return False
    user.active = active
    await session.flush()
    action = "user.enabled" if active else "user.disabled"
    await _audit(session, manager, user, action, sessions=ended)
    return True


async def set_role(
    session: AsyncSession,
    manager: Manager,
    user: User,
    role: Role,
    tenant_id: int | None,
) -> bool:
    """A new role (and tenant, for a platform admin doing it); False when nothing changed."""
    _not_yourself(manager, user, "change the role of")
    if manager.tenant_id is not None:
        if role is Role.PLATFORM_ADMIN:
            raise InvalidInput("only a platform admin can make a platform admin")
        tenant_id = manager.tenant_id
    if role is Role.PLATFORM_ADMIN:
        tenant_id = None
    elif tenant_id is None:
        tenant_id = user.tenant_id
    if role is not Role.PLATFORM_ADMIN and tenant_id is None:
        raise InvalidInput(f"a {role.value} belongs to a tenant (--tenant)")
    if user.role == role.value and user.tenant_id == tenant_id:
        return False
    before = user.role
    ended = await _revoke_all(session, user)
    user.role, user.tenant_id = role.value, tenant_id
    await session.flush()
    await _audit(
        session, manager, user, "user.role_changed", role=role.value, was=before, sessions=ended
    )
    return True


async def reset_password(
    session: AsyncSession, manager: Manager, user: User, password: str
) -> None:
    """A new password, and every session ends (InvalidInput when the policy refuses it)."""
    if problems := check_password_policy(password):
        raise InvalidInput("; ".join(problems))
    user.password_hash = await hash_password(password)
    ended = await _revoke_all(session, user)
    await session.flush()
    await _audit(session, manager, user, "user.password_reset", sessions=ended)
