"""Signing in with an e-mail and a password: the panel's form and ``POST /api/v1/auth/token``
both call :func:`attempt_sign_in`, which takes a throttle slot first (each door keeps its own
answer: a page, or a 429 with ``Retry-After``).

A browser that signed in gets a device token (a random id and an HMAC binding it to the
e-mail, under a key derived from the platform secret). Presented with the same e-mail, the
attempt is throttled on that device's key instead of the e-mail's: see
:mod:`services.core.auth.throttle`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from services.api.state import AppState
from services.core.auth.passwords import verify_password
from services.core.auth.sessions import (
    SignedIn,
    SignInFailed,
    normalize_email,
    sign_in,
    stored_hash,
)
from services.core.auth.throttle import Attempt, LoginThrottle
from services.core.auth.tokens import TokenKeys
from services.core.config import Settings
from services.core.db import transaction

DEVICE_COOKIE = "atende_device"
DEVICE_DAYS = 90


def _device_mac(secret_key: str, device_id: str, email: str) -> str:
    key = hmac.new(secret_key.encode(), b"atende-panel-device", hashlib.sha256).digest()
    message = f"{device_id}:{normalize_email(email)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:40]


def new_device_token(settings: Settings, email: str) -> str:
    device_id = secrets.token_urlsafe(16)
    return f"{device_id}.{_device_mac(settings.secret_keys()[0], device_id, email)}"


def known_device(settings: Settings, email: str, token: str | None) -> str | None:
    """The device id, if ``token`` was issued to this browser for this e-mail."""
    if not token or token.count(".") != 1 or len(token) > 100:
        return None
    device_id, mac = token.split(".")
    for key in settings.secret_keys():
        if hmac.compare_digest(mac, _device_mac(key, device_id, email)):
            return device_id
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    signed: SignedIn | None
    retry_after: float | None = None  # set when throttled: the password was not checked


async def attempt_sign_in(
    state: AppState, email: str, password: str, ip: str | None, device_token: str | None = None
) -> Outcome:
    """Throttle, then check the password with no database connection held, then record; a
    failure is caught inside the transaction so that its audit row is committed."""
    attempt = Attempt(email, ip, known_device(state.settings, email, device_token))
    throttle = LoginThrottle(state.cache)
    if (wait := await throttle.acquire(attempt)) is not None:
        return Outcome(None, wait)
    async with state.sessionmaker() as session:  # a short read, released before the hash
        hashed = await stored_hash(session, email)
    valid = await verify_password(hashed, password)
    keys = TokenKeys.from_settings(state.settings)
    signed: SignedIn | None = None
    async with transaction(state.sessionmaker) as session:
        try:
            signed = await sign_in(
                session,
                keys,
                state.settings,
                email=email,
                password=password,
                ip=ip,
                now=datetime.now(UTC),
                verified=(hashed, valid),
            )
        except SignInFailed:
            signed = None
    if signed is not None:
        await throttle.succeeded(attempt)
    return Outcome(signed)
