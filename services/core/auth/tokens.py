"""Panel access tokens: short-lived JWTs, HS256 only, with a ``kid`` for key rotation.

The signing key is derived from ``ATENDE_SECRET_KEY`` (never the raw secret, which also encrypts
tenant credentials); keys in ``ATENDE_PREVIOUS_SECRET_KEYS`` still verify, so a rotation does
not sign everyone out. The algorithm is pinned: ``alg: none`` and public-key algorithms
are refused before any signature is looked at.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

import jwt

from services.core.config import Settings

from .roles import Principal, Role

ISSUER = "atende"
AUDIENCE = "atende-panel"
ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "sid", "role"]


class InvalidToken(Exception):
    """``reason``: expired, bad_signature, bad_algorithm, unknown_key, bad_claims, malformed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _derive(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"atende-panel-jwt", hashlib.sha256).digest()


def _kid(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class TokenKeys:
    def __init__(self, current: str, previous: list[str] | None = None) -> None:
        self._signing = _derive(current)
        self._kid = _kid(self._signing)
        keys = [self._signing, *(_derive(p) for p in previous or [])]
        self._by_kid = {_kid(key): key for key in keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenKeys:
        current, *previous = settings.secret_keys()
        return cls(current, previous)

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._signing, algorithm=ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("bad_algorithm")
        key = self._by_kid.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown_key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": _REQUIRED},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad_signature") from None
        except jwt.PyJWTError:
            raise InvalidToken("bad_claims") from None
        return claims


def issue_access_token(keys: TokenKeys, principal: Principal, now: datetime, minutes: int) -> str:
    return keys.sign(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(principal.user_id),
            "email": principal.email,
            "role": principal.role.value,
            "tid": principal.tenant_id,
            "sid": principal.session_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        }
    )


def read_access_token(keys: TokenKeys, token: str) -> Principal:
    claims = keys.verify(token)
    try:
        return Principal(
            user_id=int(claims["sub"]),
            email=str(claims.get("email", "")),
            role=Role(claims["role"]),
            tenant_id=None if claims.get("tid") is None else int(claims["tid"]),
            session_id=str(claims["sid"]),
        )
    except (ValueError, TypeError, KeyError):
        raise InvalidToken("bad_claims") from None
