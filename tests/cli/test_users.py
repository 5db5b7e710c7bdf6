"""``atende users disable|enable|set-role|revoke-sessions|reset-password``: the installed
command against real Postgres; each change is audited and ends the user's sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from services.core.auth.sessions import SignInFailed, session_still_valid, sign_in
from services.core.auth.tokens import TokenKeys
from services.core.config import Settings
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, User
from tests.cli.conftest import SECRET_KEY, Cli

SETTINGS = Settings(secret_key=SecretStr(SECRET_KEY))
EMAIL = "ana@acme.example"
PASSWORD = "senha-muito-boa-123"


async def _signed_in(clean_db: SessionMaker, password: str = PASSWORD) -> bool:
    async with transaction(clean_db) as session:
        try:
            signed = await sign_in(
                session, TokenKeys.from_settings(SETTINGS), SETTINGS,
                email=EMAIL, password=password, ip=None, now=datetime.now(UTC),
            )  # fmt: skip
        except SignInFailed:
            return False
    async with clean_db() as session:
        return await session_still_valid(session, signed.principal)


async def test_taking_access_away_from_the_command_line(
    atende: Cli, clean_db: SessionMaker, applied: Path
) -> None:
    created = atende(
        "users", "create", "--email", EMAIL, "--role", "agent", "--tenant", "acme",
        "--password-stdin", stdin=f"{PASSWORD}\n",
    )  # fmt: skip
    assert created.code == 0, created
    async with transaction(clean_db) as session:
        signed = await sign_in(
            session, TokenKeys.from_settings(SETTINGS), SETTINGS,
            email=EMAIL, password=PASSWORD, ip=None, now=datetime.now(UTC),
        )  # fmt: skip

    ran = atende("users", "revoke-sessions", EMAIL)
    assert (ran.code, ran.out) == (0, f"user {EMAIL}: 1 session(s) ended\n"), ran
    async with clean_db() as session:
        assert not await session_still_valid(session, signed.principal)

    assert atende("users", "disable", EMAIL).out == f"user {EMAIL} disabled\n"
    assert atende("users", "disable", EMAIL).out == f"user {EMAIL} was already disabled\n"
    assert not await _signed_in(clean_db)
    assert atende("users", "enable", EMAIL).out == f"user {EMAIL} enabled\n"
    assert await _signed_in(clean_db)

    ran = atende("users", "set-role", EMAIL, "viewer")
    assert (ran.code, ran.out) == (0, f"user {EMAIL} is now viewer\n"), ran
    ran = atende("users", "reset-password", EMAIL, "--password-stdin", stdin="short\n")
    assert ran.code == 1
    assert ran.err.startswith("error: a password needs at least 12 characters"), ran
    new = "outra-senha-muito-boa-456"
    ran = atende("users", "reset-password", EMAIL, "--password-stdin", stdin=f"{new}\n")
    assert ran.code == 0, ran
    assert not await _signed_in(clean_db)
    assert await _signed_in(clean_db, new)

    missing = atende("users", "disable", "nobody@acme.example")
    assert (missing.code, missing.err) == (1, "error: no such user\n")
    async with clean_db() as session:
        user = await session.scalar(select(User).where(User.email == EMAIL))
        events = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert user is not None
    assert user.role == "viewer"
    changes = [
        (e.action, e.actor.startswith("cli:")) for e in events if e.action.startswith("user.")
    ]
    assert changes == [
        ("user.created", True), ("user.sessions_revoked", True), ("user.disabled", True),
        ("user.enabled", True), ("user.role_changed", True), ("user.password_reset", True),
    ]  # fmt: skip
