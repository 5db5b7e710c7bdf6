"""The audit chain's keys: derived from the platform keyring, never the raw platform key.

Each key is ``HMAC-SHA256(secret, "atende audit chain v1")`` for one secret of
``Settings.secret_keys()`` (``ATENDE_SECRET_KEY`` first, then ``ATENDE_PREVIOUS_SECRET_KEYS``),
so the audit key is never the key that encrypts credentials or signs panel tokens. A row names
its key by ``key_id``, the first 16 hex digits of the derived key's SHA-256: a fingerprint that
says which key to check it with after a rotation, and reveals nothing of the key. Nothing here
logs, prints or repr()s key material.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache

from services.core.config import Settings, get_settings

PURPOSE = b"atende audit chain v1"


def derive(secret: str) -> bytes:
    return hmac.new(secret.encode(), PURPOSE, hashlib.sha256).digest()


def key_id_of(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class AuditKeyring:
    """Signs with the current key; checks with any key still in the keyring."""

    __slots__ = ("_current", "_keys", "current_id")

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("an audit keyring needs at least the current key")
        keys = [derive(secret) for secret in secrets]
        self._current = keys[0]
        self.current_id = key_id_of(keys[0])
        self._keys = {key_id_of(key): key for key in keys}

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditKeyring:
        return cls(settings.secret_keys())

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def sign(self, message: str) -> str:
        """HMAC-SHA256 of ``message`` under the current key, in hex."""
        return _mac(self._current, message)

    def check(self, key_id: str, message: str, digest: str) -> bool | None:
        """Whether ``digest`` is ``message``'s HMAC under ``key_id``; None when that key is not
        in the keyring (retired, or never ours)."""
        key = self._keys.get(key_id)
        if key is None:
            return None
        return hmac.compare_digest(_mac(key, message), digest)

    def __repr__(self) -> str:
        return f"AuditKeyring(current={self.current_id!r}, keys={list(self._keys)!r})"


def _mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def process_keyring() -> AuditKeyring:
    """The keyring of this process's settings (``get_settings()``, which is what the api, the
    worker and the CLI run with), built once per set of keys. An app built in a test with other
    ``Settings`` still audits under these, so pass a keyring to check its rows with another.
    Raises :class:`~services.core.config.InsecureSecretKey` outside development without a
    proper ``ATENDE_SECRET_KEY``."""
    return _keyring(tuple(get_settings().secret_keys()))


@lru_cache(maxsize=4)
def _keyring(secrets: tuple[str, ...]) -> AuditKeyring:
    return AuditKeyring(secrets)
