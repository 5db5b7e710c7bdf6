"""Sign-in, refresh rotation with reuse detection, sign-out, throttling, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.core.auth.roles import Role
from services.core.auth.sessions import (
    RefreshFailed,
    SignedIn,
    SignInFailed,
    create_user,
    is_session_active,
    refresh,
    sign_in,
    sign_out,
)
from services.core.auth.tokens import TokenKeys, read_access_token
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, User

SETTINGS = Settings(secret_key=SecretStr("sessions-test-secret-key-0123456789"))
KEYS = TokenKeys.from_settings(SETTINGS)
PASSWORD = "correct horse battery"


async def _admin(sessionmaker: SessionMaker) -> None:
    async with transaction(sessionmaker) as session:
        await create_user(
            session, email=" Admin@Atende.Test ", password=PASSWORD,
            role=Role.PLATFORM_ADMIN, tenant_id=None, actor="test",
        )  # fmt: skip


async def _actions(sessionmaker: SessionMaker) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


async def _sign_in(
    sessionmaker: SessionMaker, password: str = PASSWORD, email: str = "admin@atende.test"
) -> SignedIn:
    """As the web layer does: a failure is caught inside the transaction, which commits."""
    async with transaction(sessionmaker) as session:
        try:
            return await sign_in(
                session, KEYS, SETTINGS, email=email, password=password, ip="10.0.0.1",
                now=datetime.now(UTC),  # the clock the access token's expiry is checked by
            )  # fmt: skip
        except SignInFailed:
            pass
    raise SignInFailed


async def _refresh(sessionmaker: SessionMaker, token: str, now: datetime | None = None) -> SignedIn:
    failure = RefreshFailed("unknown")
    async with transaction(sessionmaker) as session:
        try:
            when = now or datetime.now(UTC)
            return await refresh(session, KEYS, SETTINGS, refresh_token=token, now=when)
        except RefreshFailed as exc:
            failure = exc
    raise failure


async def test_sign_in_refresh_rotation_reuse_and_sign_out(clean_db: SessionMaker) -> None:
    await _admin(clean_db)
    signed = await _sign_in(clean_db)
    principal = read_access_token(KEYS, signed.access_token)
    assert (principal.email, principal.role) == ("admin@atende.test", Role.PLATFORM_ADMIN)

    rotated = await _refresh(clean_db, signed.refresh_token)
    assert rotated.refresh_token != signed.refresh_token
    assert rotated.principal.session_id == signed.principal.session_id

    # The first refresh token again: stolen. The whole session dies.
    with pytest.raises(RefreshFailed) as caught:
        await _refresh(clean_db, signed.refresh_token)
    assert caught.value.reason == "reused"
    async with clean_db() as session:
        assert not await is_session_active(session, signed.principal.session_id)
    with pytest.raises(RefreshFailed):
        await _refresh(clean_db, rotated.refresh_token)

    again = await _sign_in(clean_db)
    async with transaction(clean_db) as session:
        await sign_out(session, session_id=again.principal.session_id, actor="admin@atende.test")
        assert not await is_session_active(session, again.principal.session_id)
    assert await _actions(clean_db) == [
        "user.created", "auth.sign_in", "auth.refresh_reused", "auth.sign_in", "auth.sign_out",
    ]  # fmt: skip


async def test_wrong_password_and_unknown_email_fail_alike_and_are_audited(
    clean_db: SessionMaker,
) -> None:
    await _admin(clean_db)
    for email, password in [("admin@atende.test", "wrong password!!"), ("nobody@x.test", "x")]:
        with pytest.raises(SignInFailed) as caught:
            await _sign_in(clean_db, password, email)
        assert str(caught.value) == "wrong e-mail or password"
    async with clean_db() as session:
        failures = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed")
            )
        )
    assert [f.details["reason"] for f in failures] == ["wrong_password", "unknown_email"]
    assert all("wrong password" not in str(f.details) for f in failures)


async def test_an_expired_refresh_token_is_refused(clean_db: SessionMaker) -> None:
    await _admin(clean_db)
    signed = await _sign_in(clean_db)
    later = datetime.now(UTC) + timedelta(days=SETTINGS.panel_refresh_token_days, seconds=1)
    with pytest.raises(RefreshFailed) as caught:
        await _refresh(clean_db, signed.refresh_token, later)
    assert caught.value.reason == "expired"


async def test_users_are_validated(clean_db: SessionMaker) -> None:
    await _admin(clean_db)
    cases = [
        ("short@x.test", "short", Role.PLATFORM_ADMIN, None, "at least 12"),
        ("agent@x.test", PASSWORD, Role.AGENT, None, "belongs to a tenant"),
        ("ADMIN@atende.test", PASSWORD, Role.PLATFORM_ADMIN, None, "exists"),
    ]
    for email, password, role, tenant_id, problem in cases:
        with pytest.raises(ValueError, match=problem):
            async with transaction(clean_db) as session:
                await create_user(
                    session, email=email, password=password, role=role, tenant_id=tenant_id,
                    actor="t",
                )  # fmt: skip
    async with clean_db() as session:
        [user] = list(await session.scalars(select(User)))
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_the_audit_log_refuses_edits(clean_db: SessionMaker) -> None:
    await _admin(clean_db)
    for statement in ("UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with transaction(clean_db) as session:
                await session.execute(text(statement))
    assert await _actions(clean_db) == ["user.created"]
