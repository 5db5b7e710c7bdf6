"""The WhatsApp Cloud API's webhooks (Meta), turned into the same customer messages as
Whaticket's.

* Subscription: ``GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`` is answered with
  the challenge when the token is the tenant's.
* Every ``POST`` carries ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with
  the app secret>``; anything else is refused before the body is parsed.
* One body batches entries and changes: ``entry[].changes[].value`` holds ``messages`` (with
  ``contacts`` for the sender's profile name) and ``statuses`` of what we sent (sent, delivered,
  read, failed). Interactive replies (buttons, lists) become ``button``/``list`` messages.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.core.errors import SchemaViolation

from .baileys import NormalizedMessage, ascii_digits

SIGNATURE_HEADER = "x-hub-signature-256"
_MEDIA = ("image", "audio", "video", "document", "sticker")


def signed_by(app_secret: str, body: bytes, header: str | None) -> bool:
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256="), expected)


def verification_challenge(params: dict[str, str], verify_token: str | None) -> str | None:
    """The challenge to echo when Meta verifies the subscription with the right token."""
    offered = params.get("hub.verify_token", "")
    if (
        params.get("hub.mode") == "subscribe"
        and verify_token
        and hmac.compare_digest(offered.encode(), verify_token.encode())
    ):
        return params.get("hub.challenge", "")
    return None


@dataclass(frozen=True, slots=True)
class Status:
    """What became of a message we sent (``id`` is the ``wamid`` the send returned)."""

    message_id: str
    status: str  # sent | delivered | read | failed
    error_code: int | None


@dataclass(frozen=True, slots=True)
class Batch:
    phone_number_id: str | None
    messages: list[tuple[NormalizedMessage, dict[str, Any]]]  # with the raw message, stored
    statuses: list[Status]
    ignored: int


def _dict(value: object) -> dict[str, Any]:
    """Meta's shape where it holds, nothing where it does not: a tenant may sign any body with
    its app secret, and a field of the wrong type must not fail the rest."""
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _text(message: dict[str, Any]) -> tuple[str, str] | None:
    kind = message.get("type")
    if kind == "text":
        return "text", _str(_dict(message.get("text")).get("body"))
    if kind == "interactive":
        interactive = _dict(message.get("interactive"))
        for key, out in (("button_reply", "button"), ("list_reply", "list")):
            reply = interactive.get(key)
            if isinstance(reply, dict):
                return out, _str(reply.get("title")) or _str(reply.get("id"))
        return None
    if kind == "button":  # a template's quick reply
        return "button", _str(_dict(message.get("button")).get("text"))
    if isinstance(kind, str) and kind in _MEDIA:
        return kind, _str(_dict(message.get(kind)).get("caption"))
    if kind == "location":
        return "location", ""
    return None  # reactions, system notices, unsupported types


def _sent_at(raw: object) -> datetime | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str) or len(str(raw)) > 20:
        return None
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _message(message: object, names: dict[str, str]) -> NormalizedMessage | None:
    """A customer message, or None for what is not one (reactions, unknown types, no sender)."""
    if not isinstance(message, dict):
        return None
    found = _text(message)
    sender, msg_id = message.get("from"), message.get("id")
    if found is None or not isinstance(sender, str) or not isinstance(msg_id, str) or not msg_id:
        return None
    if not ascii_digits(sender):
        return None
    kind, text = found
    return NormalizedMessage(
        provider_msg_id=msg_id,
        kind=kind,
        text=text[:8000],
        phone=sender,
        lid=None,
        push_name=(names.get(sender) or "")[:200] or None,
        sent_at=_sent_at(message.get("timestamp")),
    )


def _status(status: object) -> Status | None:
    if not isinstance(status, dict) or not isinstance(status.get("id"), str) or not status["id"]:
        return None
    errors = _list(status.get("errors"))
    code = _dict(errors[0]).get("code") if errors else None
    valid = isinstance(code, int) and not isinstance(code, bool)
    return Status(status["id"], _str(status.get("status")), code if valid else None)


def parse(payload: object) -> Batch:
    """Raise :class:`SchemaViolation` for a body that is not a Cloud API notification."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise SchemaViolation("not a whatsapp_business_account notification")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise SchemaViolation("entry must be a list")
    messages: list[tuple[NormalizedMessage, dict[str, Any]]] = []
    statuses: list[Status] = []
    ignored = 0
    phone_number_id: str | None = None
    for entry in entries:
        for change in _list(_dict(entry).get("changes")):
            value = _dict(change).get("value")
            if not isinstance(value, dict) or change.get("field") != "messages":
                ignored += 1
                continue
            metadata = _dict(value.get("metadata"))
            phone_number_id = str(metadata.get("phone_number_id") or "")
            names = {
                str(c.get("wa_id")): _str(_dict(c.get("profile")).get("name"))
                for c in _list(value.get("contacts"))
                if isinstance(c, dict)
            }
            for message in _list(value.get("messages")):
                normalized = _message(message, names)
                if normalized is None:
                    ignored += 1
                    continue
                messages.append((normalized, {"metadata": value.get("metadata"), **message}))
            statuses.extend(
                found for status in _list(value.get("statuses")) if (found := _status(status))
            )
    return Batch(phone_number_id, messages, statuses, ignored)
