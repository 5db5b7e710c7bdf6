"""Turning the raw Baileys message that Whaticket forwards into one normalized customer message.

Whaticket's SaaS forks post ``proto.IWebMessageInfo`` as JSON (some wrap it as
``{"message": …}``). Its shape varies with the Baileys version: timestamps are numbers or
protobuf ``Long`` objects, and a contact may be named by phone JID or by an opaque ``@lid``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.core.errors import SchemaViolation

PHONE_SUFFIX = "@s.whatsapp.net"
LID_SUFFIX = "@lid"
# Message containers that only wrap another message.
_WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
_MEDIA_KINDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
    "locationMessage": "location",
    "contactMessage": "contact",
}
_NOT_CUSTOMER_TEXT = frozenset(
    ("protocolMessage", "reactionMessage", "senderKeyDistributionMessage")
)


@dataclass(frozen=True, slots=True)
class NormalizedMessage:
    provider_msg_id: str
    kind: str  # text | button | list | image | audio | …
    text: str  # what the customer wrote or chose; a caption for media; "" for bare media
    phone: str | None  # digits with country code, when known
    lid: str | None  # WhatsApp's opaque id, when the message carried one
    push_name: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class BusinessMessage:
    """What the business itself sent in a one-to-one chat (``fromMe``): a person answering
    from Whaticket or the phone — or the echo of the bot's own reply."""

    provider_msg_id: str
    text: str
    phone: str | None
    lid: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str  # from_me | group | broadcast | no_content


def _jid_user(jid: str) -> str:
    """``5511999998888:12@s.whatsapp.net`` → ``5511999998888`` (drops the device suffix)."""
    return jid.split("@", 1)[0].split(":", 1)[0]


def ascii_digits(value: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also takes "²" and "١", which no phone number has."""
    return value.isascii() and value.isdigit()


def _phone_of(jid: object) -> str | None:
    if isinstance(jid, str) and jid.endswith(PHONE_SUFFIX):
        user = _jid_user(jid)
        return user if ascii_digits(user) else None
    return None


def _lid_of(jid: object) -> str | None:
    return _jid_user(jid) if isinstance(jid, str) and jid.endswith(LID_SUFFIX) else None


def _first(read: Callable[[object], str | None], jids: tuple[object, ...]) -> str | None:
    """The first of ``jids`` that ``read`` reads (a loop: cheaper than ``next()`` of a
    generator, and this runs for every message)."""
    for jid in jids:
        if jid is not None and (found := read(jid)):
            return found
    return None


def parse_timestamp(value: object) -> datetime | None:
    """Unix seconds as int, numeric string, or protobuf Long ``{low, high, unsigned}``. An
    instant nobody can mean (not after 1970, or past 2242, e.g. beyond bigint) is unknown: the
    message is still stored, without ``sent_at``."""
    seconds: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and 0 < len(value) <= 20 and ascii_digits(value):
        seconds = int(value)
    elif isinstance(value, dict) and isinstance(value.get("low"), int):
        low, high = value["low"], value.get("high") or 0
        if not isinstance(high, int):
            return None
        seconds = (high << 32) + (low & 0xFFFFFFFF)
    if seconds is None or not 0 < seconds < 2**33:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def _unwrap(content: dict[str, Any]) -> dict[str, Any]:
    if content.keys().isdisjoint(_WRAPPERS):  # most messages: nothing to unwrap
        return content
    for _ in range(4):  # wrappers nest at most a couple of levels
        for wrapper in _WRAPPERS:
            inner = content.get(wrapper)
            if isinstance(inner, dict) and isinstance(inner.get("message"), dict):
                content = inner["message"]
                break
        else:
            return content
    return content


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def extract_content(content: dict[str, Any]) -> tuple[str, str] | None:
    """The kind and text of a message body, or None when there is nothing a customer said."""
    content = _unwrap(content)
    if text := _str(content.get("conversation")):
        return "text", text
    extended = content.get("extendedTextMessage")
    if isinstance(extended, dict) and (text := _str(extended.get("text"))):
        return "text", text
    buttons = content.get("buttonsResponseMessage")
    if isinstance(buttons, dict):
        text = _str(buttons.get("selectedDisplayText")) or _str(buttons.get("selectedButtonId"))
        if text:
            return "button", text
    template = content.get("templateButtonReplyMessage")
    if isinstance(template, dict):
        text = _str(template.get("selectedDisplayText")) or _str(template.get("selectedId"))
        if text:
            return "button", text
    listed = content.get("listResponseMessage")
    if isinstance(listed, dict):
        reply = listed.get("singleSelectReply")
        row = _str(reply.get("selectedRowId")) if isinstance(reply, dict) else ""
        text = _str(listed.get("title")) or row
        if text:
            return "list", text
    for key, kind in _MEDIA_KINDS.items():
        media = content.get(key)
        if isinstance(media, dict):
            return kind, _str(media.get("caption"))
    return None


def _unwrap_envelope(payload: object) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise SchemaViolation("body must be a JSON object")
    if "key" not in payload and isinstance(payload.get("message"), dict):
        payload = payload["message"]  # the {"message": <WebMessageInfo>} wrapper
    assert isinstance(payload, dict)
    return payload


def normalize(payload: object) -> NormalizedMessage | Ignored:
    """Raise :class:`SchemaViolation` for a body that is not a Baileys message at all."""
    message = _unwrap_envelope(payload)
    key = message.get("key")
    if not isinstance(key, dict):
        raise SchemaViolation("missing field: key")
    msg_id, remote = key.get("id"), key.get("remoteJid")
    if not isinstance(msg_id, str) or not msg_id or len(msg_id) > 128:
        raise SchemaViolation("key.id must be a non-empty string of at most 128 characters")
    if not isinstance(remote, str) or "@" not in remote:
        raise SchemaViolation("key.remoteJid must be a WhatsApp JID")

    if key.get("fromMe") is True:
        return Ignored("from_me")
    if remote.endswith("@g.us") or key.get("participant"):
        return Ignored("group")
    if remote == "status@broadcast" or remote.endswith(("@broadcast", "@newsletter")):
        return Ignored("broadcast")
    if message.get("broadcast") is True:
        return Ignored("broadcast")

    content = message.get("message")
    if not isinstance(content, dict) or not content.keys().isdisjoint(_NOT_CUSTOMER_TEXT):
        return Ignored("no_content")
    extracted = extract_content(content)
    if extracted is None:
        return Ignored("no_content")
    kind, text = extracted

    alternates = (key.get("senderPn"), key.get("remoteJidAlt"), message.get("senderPn"))
    phone = _phone_of(remote) or _first(_phone_of, alternates)
    lid = _lid_of(remote) or _first(_lid_of, alternates)
    if phone is None and lid is None:
        raise SchemaViolation("key.remoteJid is neither a phone JID nor an @lid")
    push_name = _str(message.get("pushName"))[:200] or None
    return NormalizedMessage(
        provider_msg_id=msg_id,
        kind=kind,
        text=text[:8000],
        phone=phone,
        lid=lid,
        push_name=push_name,
        sent_at=parse_timestamp(message.get("messageTimestamp")),
    )


def business_message(payload: object) -> BusinessMessage | None:
    """The business's own message in a body :func:`normalize` ignored as ``from_me``."""
    message = _unwrap_envelope(payload)
    key = message.get("key")
    if not isinstance(key, dict) or key.get("fromMe") is not True:
        return None
    remote, content = key.get("remoteJid"), message.get("message")
    msg_id = key.get("id")
    if not isinstance(remote, str) or not isinstance(msg_id, str) or not isinstance(content, dict):
        return None
    extracted = extract_content(content)
    phone, lid = _phone_of(remote), _lid_of(remote)
    if extracted is None or (phone is None and lid is None):
        return None  # groups, broadcasts and protocol messages are nobody's answer
    return BusinessMessage(msg_id, extracted[1][:8000], phone, lid)


def _stored_content(payload: object) -> dict[str, Any] | None:
    """The unwrapped message body of a stored webhook, or None for anything else."""
    try:
        message = _unwrap_envelope(payload)
    except SchemaViolation:
        return None
    content = message.get("message")
    return _unwrap(content) if isinstance(content, dict) else None


@dataclass(frozen=True, slots=True)
class Referral:
    """The ad a customer came from: WhatsApp puts it in the first message after a
    click-to-WhatsApp ad (``contextInfo.externalAdReply``; ``conversionSource`` on some)."""

    ad_id: str
    url: str
    title: str


def referral_of(payload: object) -> Referral | None:
    """The ad behind a stored webhook body, if its message carried one."""
    content = _stored_content(payload)
    for body in (content or {}).values():
        context = body.get("contextInfo") if isinstance(body, dict) else None
        if not isinstance(context, dict):
            continue
        ad = context.get("externalAdReply")
        ad = ad if isinstance(ad, dict) else {}
        referral = Referral(
            _str(ad.get("sourceId")), _str(ad.get("sourceUrl")), _str(ad.get("title"))
        )
        if referral.ad_id or referral.url or _str(context.get("conversionSource")):
            return referral
    return None


def media_of(payload: object) -> tuple[str, dict[str, Any]] | None:
    """(kind, the media body: ``mimetype``, ``mediaKey``, ``directPath``…) of a stored
    webhook body whose message is an image or a voice note/audio; None otherwise."""
    content = _stored_content(payload) or {}
    for key in ("audioMessage", "imageMessage"):
        body = content.get(key)
        if isinstance(body, dict):
            return _MEDIA_KINDS[key], body
    return None
