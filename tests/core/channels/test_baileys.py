"""Normalizing the raw Baileys message that Whaticket SaaS forks forward to the webhook."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.core.channels.baileys import Ignored, NormalizedMessage, normalize, parse_timestamp
from services.core.errors import SchemaViolation

PHONE = "5511999998888"
JID = f"{PHONE}@s.whatsapp.net"
LID = "123456789012345"
TS = 1_760_000_000
TS_AT = datetime.fromtimestamp(TS, tz=UTC)


def baileys(
    content: dict[str, Any] | None,
    *,
    remote: str = JID,
    msg_id: str = "3EB0A1B2C3D4E5F6",
    from_me: bool = False,
    timestamp: object = TS,
    push_name: str | None = "Maria",
    **key_extra: Any,
) -> dict[str, Any]:
    """A WebMessageInfo as Baileys serializes it (the shape Whaticket forwards)."""
    message: dict[str, Any] = {
        "key": {"remoteJid": remote, "fromMe": from_me, "id": msg_id, **key_extra},
        "messageTimestamp": timestamp,
    }
    if content is not None:
        message["message"] = content
    if push_name is not None:
        message["pushName"] = push_name
    return message


def accepted(payload: object) -> NormalizedMessage:
    result = normalize(payload)
    assert isinstance(result, NormalizedMessage), result
    return result


# -- content ---------------------------------------------------------------------------------------


def test_plain_conversation_text() -> None:
    msg = accepted(baileys({"conversation": "  Oi, tudo bem?  "}))
    assert msg == NormalizedMessage(
        provider_msg_id="3EB0A1B2C3D4E5F6",
        kind="text",
        text="Oi, tudo bem?",
        phone=PHONE,
        lid=None,
        push_name="Maria",
        sent_at=TS_AT,
    )


def test_extended_text_message() -> None:
    content = {"extendedTextMessage": {"text": "veja https://exemplo.com", "matchedText": "x"}}
    msg = accepted(baileys(content))
    assert (msg.kind, msg.text) == ("text", "veja https://exemplo.com")


def test_image_caption_is_the_text() -> None:
    content = {"imageMessage": {"mimetype": "image/jpeg", "caption": "meu boleto"}}
    msg = accepted(baileys(content))
    assert (msg.kind, msg.text) == ("image", "meu boleto")


def test_bare_audio_has_kind_audio_and_empty_text() -> None:
    content = {"audioMessage": {"mimetype": "audio/ogg; codecs=opus", "seconds": 4, "ptt": True}}
    msg = accepted(baileys(content))
    assert (msg.kind, msg.text) == ("audio", "")


def test_button_reply_uses_the_displayed_text() -> None:
    content = {
        "buttonsResponseMessage": {
            "selectedButtonId": "btn-2",
            "selectedDisplayText": "Segunda via",
        }
    }
    msg = accepted(baileys(content))
    assert (msg.kind, msg.text) == ("button", "Segunda via")


def test_button_reply_falls_back_to_the_button_id() -> None:
    msg = accepted(baileys({"buttonsResponseMessage": {"selectedButtonId": "btn-2"}}))
    assert (msg.kind, msg.text) == ("button", "btn-2")


def test_list_reply_uses_the_title_or_the_row_id() -> None:
    titled = {
        "listResponseMessage": {
            "title": "Plano Fibra 500",
            "singleSelectReply": {"selectedRowId": "plan-500"},
        }
    }
    assert (accepted(baileys(titled)).kind, accepted(baileys(titled)).text) == (
        "list",
        "Plano Fibra 500",
    )
    untitled = {"listResponseMessage": {"singleSelectReply": {"selectedRowId": "plan-500"}}}
    assert accepted(baileys(untitled)).text == "plan-500"


def test_ephemeral_wrapper_is_unwrapped() -> None:
    content = {
        "ephemeralMessage": {"message": {"extendedTextMessage": {"text": "mensagem temporária"}}}
    }
    msg = accepted(baileys(content))
    assert (msg.kind, msg.text) == ("text", "mensagem temporária")


def test_message_envelope_is_unwrapped() -> None:
    wrapped = {"message": baileys({"conversation": "via wrapper"})}
    msg = accepted(wrapped)
    assert (msg.text, msg.phone, msg.provider_msg_id) == ("via wrapper", PHONE, "3EB0A1B2C3D4E5F6")


# -- timestamps ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(TS, id="int"),
        pytest.param(str(TS), id="numeric-string"),
        pytest.param({"low": TS, "high": 0, "unsigned": True}, id="long"),
        pytest.param({"low": TS, "high": 0, "unsigned": False}, id="long-signed"),
    ],
)
def test_message_timestamp_forms(raw: object) -> None:
    assert accepted(baileys({"conversation": "oi"}, timestamp=raw)).sent_at == TS_AT


def test_long_timestamp_with_negative_low_word() -> None:
    # protobufjs keeps ``low`` as a signed int32: seconds past 2**31 arrive with a negative low.
    seconds = 2**31 + 5
    long = {"low": seconds - 2**32, "high": 0, "unsigned": True}
    assert parse_timestamp(long) == datetime.fromtimestamp(seconds, tz=UTC)


@pytest.mark.parametrize("raw", [None, "", "abc", True, -5, {"high": 1}, 2**40])
def test_unusable_timestamp_is_none_not_an_error(raw: object) -> None:
    assert accepted(baileys({"conversation": "oi"}, timestamp=raw)).sent_at is None


# -- identity --------------------------------------------------------------------------------------


def test_device_suffix_is_dropped_from_the_phone() -> None:
    msg = accepted(baileys({"conversation": "oi"}, remote=f"{PHONE}:12@s.whatsapp.net"))
    assert msg.phone == PHONE


@pytest.mark.parametrize("alt_field", ["senderPn", "remoteJidAlt"])
def test_lid_with_a_phone_alternative_gives_both(alt_field: str) -> None:
    payload = baileys({"conversation": "oi"}, remote=f"{LID}@lid")
    payload["key"][alt_field] = JID
    msg = accepted(payload)
    assert (msg.phone, msg.lid) == (PHONE, LID)


def test_phone_jid_with_a_lid_alternative_gives_both() -> None:
    msg = accepted(baileys({"conversation": "oi"}, remoteJidAlt=f"{LID}@lid"))
    assert (msg.phone, msg.lid) == (PHONE, LID)


def test_lid_alone_gives_only_the_lid() -> None:
    msg = accepted(baileys({"conversation": "oi"}, remote=f"{LID}@lid"))
    assert (msg.phone, msg.lid) == (None, LID)


# -- ignored ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param(baileys({"conversation": "eco"}, from_me=True), "from_me", id="fromMe"),
        pytest.param(
            baileys({"conversation": "grupo"}, remote="120363025246125888@g.us"),
            "group",
            id="group",
        ),
        pytest.param(
            baileys({"conversation": "grupo"}, participant=JID), "group", id="participant"
        ),
        pytest.param(
            baileys({"conversation": "status"}, remote="status@broadcast"),
            "broadcast",
            id="status-broadcast",
        ),
        pytest.param(
            baileys({"reactionMessage": {"key": {"id": "X"}, "text": "👍"}}),
            "no_content",
            id="reaction",
        ),
        pytest.param(
            baileys({"protocolMessage": {"type": "REVOKE", "key": {"id": "X"}}}),
            "no_content",
            id="protocol",
        ),
        pytest.param(baileys(None), "no_content", id="no-message"),
        pytest.param(baileys({"conversation": "   "}), "no_content", id="blank-text"),
    ],
)
def test_not_a_customer_message_is_ignored(payload: dict[str, Any], reason: str) -> None:
    assert normalize(payload) == Ignored(reason)


def test_from_me_wins_over_content() -> None:
    # Whaticket also forwards what agents (and the bot) send: never treat it as a customer turn.
    assert normalize(baileys({"conversation": "Olá, sou a Bia"}, from_me=True)) == Ignored(
        "from_me"
    )


# -- schema violations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        pytest.param({"message": {"conversation": "oi"}}, "key", id="no-key"),
        pytest.param({"key": "abc", "message": {}}, "key", id="key-not-object"),
        pytest.param(baileys({"conversation": "oi"}, msg_id=""), "key.id", id="empty-id"),
        pytest.param(baileys({"conversation": "oi"}, msg_id="x" * 129), "key.id", id="long-id"),
        pytest.param(
            baileys({"conversation": "oi"}, remote="5511999998888"), "remoteJid", id="no-at"
        ),
        pytest.param([1, 2, 3], "object", id="not-an-object"),
        pytest.param(
            baileys({"conversation": "oi"}, remote="abc@s.whatsapp.net"), "remoteJid", id="no-id"
        ),
    ],
)
def test_schema_violations(payload: object, fragment: str) -> None:
    with pytest.raises(SchemaViolation) as info:
        normalize(payload)
    assert fragment in info.value.message
    assert info.value.status_code == 422
