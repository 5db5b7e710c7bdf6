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

from .baileys import NormalizedMessage

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


def _text(message: dict[str, Any]) -> tuple[str, str] | None:
    kind = message.get("type")
    if kind == "text":
        return "text", str((message.get("text") or {}).get("body") or "").strip()
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        for key, out in (("button_reply", "button"), ("list_reply", "list")):
            reply = interactive.get(key)
            if isinstance(reply, dict):
                return out, str(reply.get("title") or reply.get("id") or "").strip()
        return None
    if kind == "button":  # a template's quick reply
        return "button", str((message.get("button") or {}).get("text") or "").strip()
    if kind in _MEDIA:
        return str(kind), str((message.get(str(kind)) or {}).get("caption") or "").strip()
    if kind == "location":
        return "location", ""
    return None  # reactions, system notices, unsupported types


def _sent_at(raw: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(raw)), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


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
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                ignored += 1
                continue
            phone_number_id = str((value.get("metadata") or {}).get("phone_number_id") or "")
            names = {
                str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                found = _text(message) if isinstance(message, dict) else None
                sender = str(message.get("from") or "") if isinstance(message, dict) else ""
                if found is None or not sender.isdigit() or not message.get("id"):
                    ignored += 1
                    continue
                kind, text = found
                normalized = NormalizedMessage(
                    provider_msg_id=str(message["id"]),
                    kind=kind,
                    text=text,
                    phone=sender,
                    lid=None,
                    push_name=names.get(sender) or None,
                    sent_at=_sent_at(message.get("timestamp")),
                )
                messages.append((normalized, {"metadata": value.get("metadata"), **message}))
            for status in value.get("statuses") or []:
                if not isinstance(status, dict) or not status.get("id"):
                    continue
                errors = status.get("errors") or [{}]
                code = errors[0].get("code") if isinstance(errors[0], dict) else None
                statuses.append(
                    Status(
                        str(status["id"]),
                        str(status.get("status") or ""),
                        code if isinstance(code, int) else None,
                    )
                )
    return Batch(phone_number_id, messages, statuses, ignored)
