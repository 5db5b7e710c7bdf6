"""What the customer reads for safety blocks, no model at all, and Mustache-ish text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fixtures.turns import KNOWLEDGE, Harness
from tests.standins.gemini import Reply

# spec.messages.blocked's pt-BR default, for a tenant with handoffs on and no keyword
BLOCKED = "Desculpe, não posso ajudar com isso por aqui. Posso chamar um atendente?"


@pytest.mark.parametrize("prompt_block", [True, False], ids=["prompt", "candidate"])
async def test_safety_block_sends_the_canned_reply(harness: Harness, prompt_block: bool) -> None:
    harness.gemini.script(Reply.safety_block(prompt=prompt_block))
    inbound_id = await harness.ingest("texto ofensivo")

    await harness.run(inbound_id)

    assert harness.gemini.request_count == 1
    assert harness.delivered() == [BLOCKED]
    [turn] = await harness.turns()
    assert turn.status == "answered"


async def test_offline_responder_answers_from_knowledge_without_gemini(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(gemini_api_key=None)
    await harness.apply_tenant()
    inbound_id = await harness.ingest("formas de pagamento")

    await harness.run(inbound_id)

    assert harness.gemini.request_count == 0
    payment = next(e["answer"] for e in KNOWLEDGE if "pagamento" in e["question"])
    assert harness.delivered() == [payment]
    [turn] = await harness.turns()
    assert (turn.status, turn.model) == ("answered", "offline")


@pytest.mark.parametrize("whaticket_variant", ["saas", "community"])
async def test_mustache_looking_model_text_arrives_literally(
    harness: Harness, whaticket_variant: str
) -> None:
    text = "Oi {{name}}! Protocolo {{protocol}}. {{#vip}}Cliente VIP{{/vip}} {{{firstName}}} }}{{"
    harness.gemini.script(Reply.text(text))
    inbound_id = await harness.ingest("oi")

    await harness.run(inbound_id)

    assert harness.delivered() == [text]
    [out] = await harness.outbound()
    assert (out.status, out.text) == ("sent", text)
