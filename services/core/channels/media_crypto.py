"""WhatsApp's media encryption, as Baileys implements it.

The message carries a 32-byte ``mediaKey``; HKDF-SHA256 (zero salt, info "WhatsApp <Type> Keys")
expands it to 112 bytes: IV (16), AES-256 key (32), MAC key (32), and a ref key we do not use.
The file on the media server is the AES-256-CBC ciphertext followed by the first 10 bytes of
HMAC-SHA256(macKey, iv || ciphertext). A file whose MAC does not match is refused.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAC_LENGTH = 10
_INFO = {
    "image": b"WhatsApp Image Keys",
    "sticker": b"WhatsApp Image Keys",
    "video": b"WhatsApp Video Keys",
    "audio": b"WhatsApp Audio Keys",
    "document": b"WhatsApp Document Keys",
}


class MediaIntegrityError(ValueError):
    """The file is not what the message described (wrong key, MAC or hash mismatch)."""


def media_keys(media_key: bytes, kind: str) -> tuple[bytes, bytes, bytes]:
    """(iv, cipher key, mac key) for a message of ``kind``."""
    if len(media_key) != 32:
        raise MediaIntegrityError("mediaKey must be 32 bytes")
    expanded = HKDF(algorithm=hashes.SHA256(), length=112, salt=bytes(32), info=_INFO[kind]).derive(
        media_key
    )
    return expanded[:16], expanded[16:48], expanded[48:80]


def decrypt(blob: bytes, media_key: bytes, kind: str, file_enc_sha256: bytes | None) -> bytes:
    if file_enc_sha256 is not None and hashlib.sha256(blob).digest() != file_enc_sha256:
        raise MediaIntegrityError("the downloaded file's hash differs from fileEncSha256")
    iv, cipher_key, mac_key = media_keys(media_key, kind)
    ciphertext, mac = blob[:-MAC_LENGTH], blob[-MAC_LENGTH:]
    expected = hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:MAC_LENGTH]
    if len(blob) <= MAC_LENGTH or not hmac.compare_digest(mac, expected):
        raise MediaIntegrityError("media MAC mismatch")
    decryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise MediaIntegrityError("bad padding") from exc
