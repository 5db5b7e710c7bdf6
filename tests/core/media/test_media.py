"""Voice notes and images: with the tenant's flag on, the bot fetches the media from WhatsApp's
media host with the key the message carries, has Gemini transcribe or describe it, and answers
the words; media it cannot read gets the polite text-only answer, as before."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from services.core.channels.media import media_ref
from services.core.channels.media_crypto import MediaIntegrityError, decrypt
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply
from tests.standins.whatsapp_media import WhatsAppMediaStandIn, encrypt

VOICE = b"OggS\x00\x02" + bytes(range(256)) * 8  # an opus voice note's bytes, as far as we care
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(200)) * 4
TRANSCRIPT = "Oi, queria a segunda via do meu boleto, por favor."


@pytest.fixture
def media() -> Iterator[WhatsAppMediaStandIn]:
    with WhatsAppMediaStandIn() as server:
        yield server


@pytest_asyncio.fixture
async def harness(make_harness: Callable[..., Harness], media: WhatsAppMediaStandIn) -> Harness:
    h = make_harness(media_base_url=media.url)
    await h.apply_tenant(features={"audio": True, "images": True})
    return h


def metric(kind: str, outcome: str) -> float:
    labels = {"tenant": "acme", "kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("atende_media_total", labels) or 0.0


def inline_data(body: Any) -> dict[str, str]:
    [content] = body["contents"]
    [part] = [p for p in content["parts"] if "inlineData" in p or "inline_data" in p]
    data = part.get("inlineData") or part["inline_data"]
    return {"mime": data.get("mimeType") or data["mime_type"], "data": data["data"]}


async def test_a_voice_note_is_transcribed_and_answered(
    harness: Harness, media: WhatsAppMediaStandIn
) -> None:
    note = media.upload(VOICE, "audio", "audio/ogg; codecs=opus", ptt=True, seconds=4)
    harness.gemini.script(Reply.text(TRANSCRIPT), Reply.text("Claro! Envio a segunda via."))
    before = metric("audio", "read")

    inbound = await harness.ingest("", kind="audio", message_body={"audioMessage": note})
    await harness.run(inbound)

    assert harness.delivered() == ["Claro! Envio a segunda via."]
    transcribe, answer = harness.gemini.requests
    sent = inline_data(transcribe.body)
    assert sent["mime"] == "audio/ogg"
    padded = sent["data"] + "=" * (-len(sent["data"]) % 4)
    assert base64.urlsafe_b64decode(padded) == VOICE  # decrypted exactly (the SDK's base64url)
    assert TRANSCRIPT in str(answer.body["contents"])  # the model answers the words
    stored = await harness.inbound(inbound)
    assert (stored.kind, stored.text) == ("audio_text", TRANSCRIPT)
    assert metric("audio", "read") == before + 1
    assert media.requests[0].startswith("/v/t62.7117-24/")


async def test_an_image_is_described_with_its_caption(
    harness: Harness, media: WhatsAppMediaStandIn
) -> None:
    photo = media.upload(PHOTO, "image", "image/jpeg", caption="chegou assim")
    harness.gemini.script(
        Reply.text("Uma caixa de papelão amassada com a etiqueta do pedido 4711."),
        Reply.text("Sinto muito! Vou abrir a troca."),
    )

    inbound = await harness.ingest(
        "chegou assim", kind="image", message_body={"imageMessage": photo}
    )
    await harness.run(inbound)

    assert harness.delivered() == ["Sinto muito! Vou abrir a troca."]
    stored = await harness.inbound(inbound)
    assert stored.kind == "image_text"
    assert stored.text == (
        "Uma caixa de papelão amassada com a etiqueta do pedido 4711.\nLegenda: chegou assim"
    )
    assert inline_data(harness.gemini.requests[0].body)["mime"] == "image/jpeg"


async def test_media_that_cannot_be_fetched_gets_the_media_not_understood_answer(
    harness: Harness, media: WhatsAppMediaStandIn
) -> None:
    note = media.upload(VOICE, "audio", "audio/ogg; codecs=opus", ptt=True)
    media.expire()  # WhatsApp no longer has it
    before = metric("audio", "unread")

    await harness.run(await harness.ingest("", kind="audio", message_body={"audioMessage": note}))

    # spec.messages.mediaNotUnderstood's default while audio is read: the read failed
    assert harness.delivered() == [
        "Não consegui abrir esse arquivo agora. Pode me escrever sua dúvida?"
    ]
    assert harness.gemini.request_count == 0
    assert metric("audio", "unread") == before + 1


async def test_with_the_flag_off_media_is_not_fetched(
    make_harness: Callable[..., Harness], media: WhatsAppMediaStandIn
) -> None:
    harness = make_harness(media_base_url=media.url)
    await harness.apply_tenant()
    note = media.upload(VOICE, "audio", "audio/ogg", ptt=True)

    await harness.run(await harness.ingest("", kind="audio", message_body={"audioMessage": note}))

    assert media.requests == []
    assert harness.delivered() == [
        "Por enquanto eu só consigo ler mensagens de texto. Pode me escrever sua dúvida?"
    ]


def test_the_payload_cannot_choose_the_host_and_a_tampered_file_is_refused() -> None:
    key = bytes(range(32))
    body = {
        "url": "http://169.254.169.254/latest/meta-data",  # never fetched: only its path
        "mimetype": "audio/ogg; codecs=opus",
        "mediaKey": base64.b64encode(key).decode(),  # base64, as some serialisers write it
    }
    ref = media_ref("audio", body)
    assert ref is not None
    assert (ref.direct_path, ref.mime_type, ref.media_key) == (
        "/latest/meta-data",
        "audio/ogg",
        key,
    )
    blob = encrypt(VOICE, key, "audio")
    assert decrypt(blob, key, "audio", None) == VOICE
    with pytest.raises(MediaIntegrityError):
        decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), key, "audio", None)
    with pytest.raises(MediaIntegrityError):
        decrypt(blob, key, "image", None)  # the wrong kind derives other keys
