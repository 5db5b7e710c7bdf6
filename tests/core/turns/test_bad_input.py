"""Odd things customers send: each gets a sensible answer, never an error or silence."""

from __future__ import annotations

import pytest

from services.core.channels.baileys import Ignored, normalize
from services.core.turns.prompt import TRUNCATED
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply


@pytest.mark.parametrize("body", ["", "   ", "\u200b\u200b"])
def test_an_empty_message_is_not_a_turn(body: str) -> None:
    payload = {"key": {"id": "X1", "remoteJid": "5511999998888@s.whatsapp.net"}}
    result = normalize({**payload, "message": {"conversation": body}})
    if body == "\u200b\u200b":  # invisible only: stored, and the model sees an empty turn
        assert not isinstance(result, Ignored)
    else:
        assert result == Ignored("no_content")


async def test_emoji_only_is_answered_like_any_message(harness: Harness) -> None:
    harness.gemini.script(Reply.text("😊 Em que posso ajudar?"))
    await harness.run(await harness.ingest("👍🙂"))
    assert "👍🙂" in harness.gemini.last_request.last_user_text
    assert harness.delivered() == ["😊 Em que posso ajudar?"]


async def test_a_10kb_paste_reaches_the_model_cut_and_marked(harness: Harness) -> None:
    paste = "linha de log com erro 500 no roteador " * 270  # ~10 KB
    assert len(paste) > 10_000
    harness.gemini.script(
        Reply.text("Vi o começo do log: erro 500. Pode mandar só a última linha?")
    )
    await harness.run(await harness.ingest(paste))

    seen = harness.gemini.last_request.last_user_text
    assert len(seen) < 3_000
    assert TRUNCATED.strip() in seen
    assert harness.delivered() == ["Vi o começo do log: erro 500. Pode mandar só a última linha?"]


async def test_other_languages_are_answered_in_the_customers_language(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Of course! How can I help?"))
    await harness.run(await harness.ingest("Hello, do you speak English?"))
    assert "idioma do cliente" in harness.gemini.last_request.system_instruction
    assert harness.delivered() == ["Of course! How can I help?"]


async def test_a_sticker_gets_the_text_only_answer_without_handoffs(harness: Harness) -> None:
    await harness.apply_tenant(features={"handoff": False})
    for _ in range(2):  # even twice: without handoffs there is nobody to send it to
        await harness.run(await harness.ingest("", kind="sticker"))
    assert (
        harness.delivered()
        == ["Por enquanto eu só consigo ler mensagens de texto. Pode me escrever sua dúvida?"] * 2
    )
    assert harness.gemini.request_count == 0


async def test_media_with_a_caption_is_answered_from_the_caption(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Esse modelo é o X200."))
    await harness.run(await harness.ingest("que modelo é esse?", kind="image"))
    assert "[o cliente enviou: image] que modelo é esse?" in (
        harness.gemini.last_request.last_user_text
    )
    assert harness.delivered() == ["Esse modelo é o X200."]
