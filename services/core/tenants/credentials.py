"""Secret values a tenant needs at run time, encrypted at rest with the platform key.

The key is a keyring (``ATENDE_SECRET_KEY`` then ``ATENDE_PREVIOUS_SECRET_KEYS``): credentials
are always written under the current key and read under any of them, so a rotation never stops
a tenant; ``atende secrets reencrypt`` moves what is stored to the current key.

Webhook secrets are never stored, only their SHA-256: they are high-entropy capability tokens,
so a fast hash compared in constant time is the right tool (a password hash would only slow
every webhook).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from services.core.config import Settings

_UNDECRYPTABLE = (
    "tenant credentials cannot be decrypted with ATENDE_SECRET_KEY or any of "
    "ATENDE_PREVIOUS_SECRET_KEYS"
)


def hash_webhook_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


SIGNING_SECRET_RULE = "a Standard Webhooks secret: whsec_ and base64 of 24 to 64 bytes"  # noqa: S105


def is_signing_secret(secret: str) -> bool:
    if not secret.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except ValueError:
        return False
    return 24 <= len(key) <= 64


def matches_any_hash(candidate: str, hashes: list[str]) -> bool:
    """Constant-time check of a secret's hash against every accepted one (current and
    previous): every hash is compared, whichever matches."""
    found = False
    for expected in hashes:
        found |= hmac.compare_digest(candidate, expected)
    return found


@dataclass(frozen=True, slots=True)
class TenantCredentials:
    whaticket_tokens: dict[str, str] = field(default_factory=dict)
    agent_password: str | None = None
    gemini_api_key: str | None = None
    # Standard Webhooks signing secrets of the event subscriptions, by subscription name.
    event_secrets: dict[str, str] = field(default_factory=dict)
    # SHA-256 of the action API keys (the keys themselves are never stored).
    action_key_hashes: list[str] = field(default_factory=list)
    # Fallback channels (spec.fallback): the SMS API's auth token, the SMTP password.
    sms_auth_token: str | None = None
    smtp_password: str | None = None
    # The Cloud API channel (spec.meta): Meta's webhook verify token, the app secret that signs
    # its webhooks, the access token replies are sent with.
    meta_verify_token: str | None = None
    meta_app_secret: str | None = None
    meta_access_token: str | None = None

    def secrets(self) -> list[str | None]:
        """Every secret value held, for the output guard to keep out of replies."""
        return [
            *self.whaticket_tokens.values(),
            self.agent_password,
            self.gemini_api_key,
            *self.event_secrets.values(),
            self.sms_auth_token,
            self.smtp_password,
            self.meta_verify_token,
            self.meta_app_secret,
            self.meta_access_token,
        ]

    def __repr__(self) -> str:  # never let a secret reach a log through repr()
        return f"TenantCredentials(connections={sorted(self.whaticket_tokens)})"


class UndecryptableCredentials(ValueError):
    """Stored credentials that no key of the keyring opens (encrypted under a dropped key)."""


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"atende-credentials:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class CredentialCipher:
    """Encrypts under the first key, decrypts under any (``cryptography``'s MultiFernet)."""

    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        self._current = _fernet(current)
        self._fernet = MultiFernet([self._current, *(_fernet(key) for key in previous)])

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        current, *previous = settings.secret_keys()
        return cls(current, previous)

    def is_current(self, token: bytes) -> bool:
        """Whether ``token`` is already encrypted under the current key."""
        try:
            self._current.decrypt(token)
        except InvalidToken:
            return False
        return True

    def rotate(self, token: bytes) -> bytes:
        """The same credentials, encrypted under the current key."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise UndecryptableCredentials(_UNDECRYPTABLE) from None

    def encrypt(self, credentials: TenantCredentials) -> bytes:
        payload = {
            "whaticket_tokens": credentials.whaticket_tokens,
            "agent_password": credentials.agent_password,
            "gemini_api_key": credentials.gemini_api_key,
            "event_secrets": credentials.event_secrets,
            "action_key_hashes": credentials.action_key_hashes,
            "sms_auth_token": credentials.sms_auth_token,
            "smtp_password": credentials.smtp_password,
            "meta": [
                credentials.meta_verify_token,
                credentials.meta_app_secret,
                credentials.meta_access_token,
            ],
        }
        return self._fernet.encrypt(json.dumps(payload).encode())

    def decrypt(self, token: bytes) -> TenantCredentials:
        try:
            payload = json.loads(self._fernet.decrypt(token))
        except InvalidToken:
            raise UndecryptableCredentials(_UNDECRYPTABLE) from None
        meta = payload.get("meta") or [None, None, None]  # absent before the Cloud API channel
        return TenantCredentials(
            whaticket_tokens=payload["whaticket_tokens"],
            agent_password=payload["agent_password"],
            gemini_api_key=payload["gemini_api_key"],
            event_secrets=payload.get("event_secrets", {}),  # absent before workflow events
            action_key_hashes=payload.get("action_key_hashes", []),
            sms_auth_token=payload.get("sms_auth_token"),  # absent before fallback channels
            smtp_password=payload.get("smtp_password"),
            meta_verify_token=meta[0],
            meta_app_secret=meta[1],
            meta_access_token=meta[2],
        )
