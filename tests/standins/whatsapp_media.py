"""WhatsApp's media host on 127.0.0.1: serves encrypted files by their ``directPath``, as
``mmg.whatsapp.net`` does, and builds the message fields (``mediaKey``, ``fileEncSha256``…)
that point at them.

The encryption is written here from WhatsApp's scheme (HKDF-SHA256 of the media key with a zero
salt and "WhatsApp <Type> Keys", AES-256-CBC, a 10-byte HMAC-SHA256 tail), independently of
the product's decryption, so a mistake on either side shows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .threaded import ThreadedStandIn

_INFO = {"audio": b"WhatsApp Audio Keys", "image": b"WhatsApp Image Keys"}


def encrypt(plain: bytes, media_key: bytes, kind: str) -> bytes:
    expanded = HKDF(hashes.SHA256(), 112, bytes(32), _INFO[kind]).derive(media_key)
    iv, key, mac_key = expanded[:16], expanded[16:48], expanded[48:80]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return ciphertext + hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]


def _buffer(data: bytes) -> dict[str, Any]:
    """A Node Buffer as ``JSON.stringify`` writes it — how Whaticket forwards binary fields."""
    return {"type": "Buffer", "data": list(data)}


class WhatsAppMediaStandIn(ThreadedStandIn):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {}
        self.requests: list[str] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with standin._lock:
                    standin.requests.append(path)
                    blob = standin._files.get(path)
                if blob is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("content-type", "application/octet-stream")
                self.send_header("content-length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def upload(self, plain: bytes, kind: str, mime: str, **extra: Any) -> dict[str, Any]:
        """Store ``plain`` encrypted; the message body (``audioMessage``/``imageMessage``)
        a Baileys webhook would carry for it."""
        media_key = os.urandom(32)
        blob = encrypt(plain, media_key, kind)
        path = f"/v/t62.7117-24/{uuid.uuid4().hex}.enc"
        with self._lock:
            self._files[path] = blob
        return {
            "url": f"https://mmg.whatsapp.net{path}?ccb=11-4&oh=01&oe=6800",
            "mimetype": mime,
            "fileSha256": _buffer(hashlib.sha256(plain).digest()),
            "fileLength": str(len(plain)),
            "mediaKey": _buffer(media_key),
            "fileEncSha256": _buffer(hashlib.sha256(blob).digest()),
            "directPath": f"{path}?ccb=11-4&oh=01&oe=6800",
            "mediaKeyTimestamp": "1718900000",
            **extra,
        }

    def expire(self) -> None:
        """WhatsApp deletes media after a while: every file is gone."""
        with self._lock:
            self._files.clear()
