"""Downloading a message's media: from WhatsApp's media host, by the message's ``directPath``.

The host is ours to choose (``ATENDE_MEDIA_BASE_URL``, Baileys' default ``mmg.whatsapp.net``),
never the payload's: a webhook body cannot make the worker fetch an arbitrary URL. Downloads are
capped (``ATENDE_MEDIA_MAX_BYTES``) and checked against the message's hashes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.errors import PermanentError, TransientError

from . import media_crypto as crypto


@dataclass(frozen=True, slots=True)
class MediaRef:
    kind: str  # audio | image
    mime_type: str
    media_key: bytes
    direct_path: str
    file_enc_sha256: bytes | None


def _bytes(value: object) -> bytes | None:
    """A Node Buffer as JSON (``{"type": "Buffer", "data": [...]}``), an index map, a byte
    list, or base64 — the shapes Baileys' binary fields take once serialised."""
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        value = value["data"]
    elif isinstance(value, dict) and all(str(k).isdigit() for k in value):
        value = [value[k] for k in sorted(value, key=int)]
    if isinstance(value, list):
        try:
            return bytes(value)
        except (TypeError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def media_ref(kind: str, body: dict[str, Any]) -> MediaRef | None:
    """What is needed to fetch and open the media; None when the message lacks it."""
    key = _bytes(body.get("mediaKey"))
    path = body.get("directPath")
    if not isinstance(path, str) or not path.startswith("/"):
        url = body.get("url")
        path = httpx.URL(url).raw_path.decode() if isinstance(url, str) and url else None
    mime = body.get("mimetype")
    if key is None or not path or not isinstance(mime, str):
        return None
    return MediaRef(kind, mime.split(";")[0].strip(), key, path, _bytes(body.get("fileEncSha256")))


class MediaFetcher:
    def __init__(self, http: httpx.AsyncClient, base_url: str, max_bytes: int) -> None:
        self._http, self._base, self._max = http, base_url.rstrip("/"), max_bytes

    async def fetch(self, ref: MediaRef) -> bytes:
        """The decrypted file; PermanentError when it is gone, too big or not the one
        described, TransientError when the media host is unreachable."""
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._http.stream("GET", self._base + ref.direct_path) as response:
                if response.status_code in (403, 404, 410):
                    raise PermanentError("media_expired", f"media host HTTP {response.status_code}")
                if response.status_code != 200:
                    raise TransientError(
                        "media_unavailable", f"media host HTTP {response.status_code}"
                    )
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max + crypto.MAC_LENGTH + 16:
                        raise PermanentError("media_too_large", f"over {self._max} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise TransientError("media_unavailable", type(exc).__name__) from exc
        try:
            return crypto.decrypt(b"".join(chunks), ref.media_key, ref.kind, ref.file_enc_sha256)
        except crypto.MediaIntegrityError as exc:
            raise PermanentError("media_corrupt", str(exc)) from exc
