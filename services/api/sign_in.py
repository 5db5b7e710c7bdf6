"""Signing in with an e-mail and a password: the panel's form and ``POST /api/v1/auth/token``
both call :func:`attempt_sign_in` (each keeps its own throttle answer and cookies or token)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.api.state import AppState
from services.core.auth.sessions import SignedIn, SignInFailed, sign_in
from services.core.auth.tokens import TokenKeys
from services.core.db import transaction


async def attempt_sign_in(
    state: AppState, email: str, password: str, ip: str | None
) -> SignedIn | None:
    """The session, or None; a failure is caught inside the transaction so that its audit
    row is committed."""
    keys = TokenKeys.from_settings(state.settings)
    async with transaction(state.sessionmaker) as session:
        try:
            return await sign_in(
                session,
                keys,
                state.settings,
                email=email,
                password=password,
                ip=ip,
                now=datetime.now(UTC),
            )
        except SignInFailed:
            return None
