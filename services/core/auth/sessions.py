"""Signing in and out, refresh-token rotation, and users: rows only, flushed in the caller's
transaction. :class:`SignInFailed` and :class:`RefreshFailed` leave rows to keep (the failed
attempt's audit event, a reused family's revocation): catch them inside the transaction so
that it commits.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.config import Settings
from services.core.models import RefreshToken, User

from .passwords import DUMMY_HASH, check_password_policy, hash_password, verify_password
from .roles import Principal, Role
from .tokens import TokenKeys, issue_access_token


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    access_token: str
    refresh_token: str
    refresh_expires_at: datetime


class SignInFailed(Exception):
    """One message whatever went wrong: never says whether the e-mail exists."""

    def __init__(self) -> None:
        super().__init__("wrong e-mail or password")


class RefreshFailed(Exception):
    def __init__(self, reason: str) -> None:  # unknown, expired, revoked, reused
        super().__init__(reason)
        self.reason = reason


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().casefold()


def _principal(user: User, session_id: str) -> Principal:
    return Principal(user.id, user.email, Role(user.role), user.tenant_id, session_id)


async def _issue(
    session: AsyncSession,
    keys: TokenKeys,
    settings: Settings,
    user: User,
    family: str,
    now: datetime,
) -> SignedIn:
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=settings.panel_refresh_token_days)
    session.add(
        RefreshToken(user_id=user.id, family=family, token_hash=_digest(token), expires_at=expires)
    )
    await session.flush()
    principal = _principal(user, family)
    access = issue_access_token(keys, principal, now, settings.panel_access_token_minutes)
    return SignedIn(principal, access, token, expires)


async def sign_in(
    session: AsyncSession,
    keys: TokenKeys,
    settings: Settings,
    *,
    email: str,
    password: str,
    ip: str | None,
    now: datetime,
    verified: tuple[str, bool] | None = None,
) -> SignedIn:
    """``verified``: (the hash, whether the password matched it), checked beforehand with no
    database connection held (:func:`stored_hash`): a burst of sign-ins waiting for a hashing
    thread then holds none of the pool that webhooks need. A hash changed in between (a
    password reset) counts as a wrong password."""
    address = normalize_email(email)
    user = await session.scalar(select(User).where(User.email == address))
    stored = user.password_hash if user else DUMMY_HASH
    if verified is None:
        valid = await verify_password(stored, password)
    else:
        valid = verified[1] and verified[0] == stored
    if user is None or not valid or not user.active:
        reason = "unknown_email" if user is None else "inactive" if valid else "wrong_password"
        await record(
            session,
            actor=address[:200] or "?",
            action="auth.sign_in_failed",
            tenant_id=user.tenant_id if user else None,
            details={"email": address[:200], "ip": ip, "reason": reason},
        )
        raise SignInFailed
    signed = await _issue(session, keys, settings, user, uuid.uuid4().hex, now)
    await record(
        session,
        actor=user.email,
        action="auth.sign_in",
        tenant_id=user.tenant_id,
        details={"ip": ip, "session": signed.principal.session_id},
    )
    return signed


async def stored_hash(session: AsyncSession, email: str) -> str:
    """The hash to check a password against (a dummy one for an unknown e-mail, which costs
    the same time)."""
    found = await session.scalar(
        select(User.password_hash).where(User.email == normalize_email(email))
    )
    return found or DUMMY_HASH


async def refresh(
    session: AsyncSession,
    keys: TokenKeys,
    settings: Settings,
    *,
    refresh_token: str,
    now: datetime,
) -> SignedIn:
    """A new pair for a valid refresh token, which is used up; a used one revokes the family."""
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == _digest(refresh_token))
        .with_for_update()
    )
    if row is None:
        raise RefreshFailed("unknown")
    user = await session.get(User, row.user_id)
    if row.revoked_at is not None or user is None or not user.active:
        raise RefreshFailed("revoked")
    if row.used_at is not None:
        await _revoke_family(session, row.family)
        await record(
            session,
            actor=user.email,
            action="auth.refresh_reused",
            tenant_id=user.tenant_id,
            details={"session": row.family},
        )
        raise RefreshFailed("reused")
    if row.expires_at <= now:
        raise RefreshFailed("expired")
    row.used_at = now
    return await _issue(session, keys, settings, user, row.family, now)


async def _revoke_family(session: AsyncSession, family: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )


async def sign_out(session: AsyncSession, *, session_id: str, actor: str) -> None:
    await _revoke_family(session, session_id)
    user_tenant = await session.scalar(
        select(User.tenant_id)
        .join(RefreshToken, RefreshToken.user_id == User.id)
        .where(RefreshToken.family == session_id)
        .limit(1)
    )
    await record(
        session,
        actor=actor,
        action="auth.sign_out",
        tenant_id=user_tenant,
        details={"session": session_id},
    )


async def is_session_active(session: AsyncSession, session_id: str) -> bool:
    """Live while the family has an unrevoked token (signing out revokes them all)."""
    found = await session.scalar(
        select(RefreshToken.id)
        .where(RefreshToken.family == session_id, RefreshToken.revoked_at.is_(None))
        .limit(1)
    )
    return found is not None


async def session_still_valid(session: AsyncSession, principal: Principal) -> bool:
    """The token's session is live and its user is still who the token says: active, with
    the same role and tenant. One indexed lookup per request; a disabled user, a changed role
    or revoked sessions are refused on the very next request."""
    row = (
        await session.execute(
            select(User.active, User.role, User.tenant_id)
            .join(RefreshToken, RefreshToken.user_id == User.id)
            .where(
                RefreshToken.family == principal.session_id,
                RefreshToken.revoked_at.is_(None),
                User.id == principal.user_id,
            )
            .limit(1)
        )
    ).first()
    if row is None:
        return False
    active, role, tenant_id = row
    return bool(active) and role == principal.role.value and tenant_id == principal.tenant_id


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: Role,
    tenant_id: int | None,
    actor: str,
) -> User:
    """Raises ValueError listing what is wrong (policy, role and tenant, a taken e-mail)."""
    address = normalize_email(email)
    problems = check_password_policy(password)
    if "@" not in address or len(address) > 200:
        problems.append("the e-mail is not an address")
    if role is Role.PLATFORM_ADMIN and tenant_id is not None:
        problems.append("a platform admin belongs to no tenant")
    if role is not Role.PLATFORM_ADMIN and tenant_id is None:
        problems.append(f"a {role.value} belongs to a tenant (--tenant)")
    if await session.scalar(select(User.id).where(User.email == address)) is not None:
        problems.append("a user with this e-mail exists")
    if problems:
        raise ValueError("; ".join(problems))
    user = User(
        email=address,
        password_hash=await hash_password(password),
        role=role.value,
        tenant_id=tenant_id,
        active=True,
    )
    session.add(user)
    await session.flush()
    await record(
        session,
        actor=actor,
        action="user.created",
        tenant_id=tenant_id,
        details={"email": address, "role": role.value},
    )
    return user
