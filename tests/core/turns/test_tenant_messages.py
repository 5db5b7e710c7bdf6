"""The tenant owns its words: every fixed message a customer can read is ``spec.messages``, with
defaults in the persona's language that promise only what the tenant configured."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from services.core.tenants.messages import Kind
from tests.fixtures.turns import PERSONA, Harness
from tests.standins.gemini import Reply

WORKWEEK = {
    "timezone": "America/Sao_Paulo",
    "weekly": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}
KEYWORDS = {"keywords": ["falar com humano"]}
NOTHING_KNOWN = "Meu roteador pegou fogo"  # no knowledge entry matches it


def _at(instant: str) -> Callable[[], datetime]:
    moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
    return lambda: moment


async def said(
    make_harness: Callable[..., Harness],
    kind: Kind,
    *,
    messages: dict[str, str] | None = None,
    language: str = "pt-BR",
    **spec: Any,
) -> str:
    """Brings about ``kind`` for a tenant with ``messages`` and ``language``; what it sent."""
    settings: dict[str, Any] = {}
    if kind is Kind.NO_ANSWER:
        settings["gemini_api_key"] = None
    if kind is Kind.WAIT:
        settings["rate_limit_notice_after_seconds"] = 10
    harness = make_harness(**settings)
    spec = {"persona": {"systemPrompt": PERSONA, "language": language}} | spec
    if messages is not None:
        spec["messages"] = messages
    if kind in (Kind.HANDOFF, Kind.HANDOFF_AFTER_HOURS, Kind.STILL_WAITING):
        spec.setdefault("handoff", {"keywords": ["atendente"]})
    if kind in (Kind.HANDOFF_AFTER_HOURS, Kind.STILL_WAITING):
        spec.setdefault("businessHours", WORKWEEK)
        harness.deps.clock = _at("2026-11-24T23:30")  # Tuesday 20:30 in São Paulo
    if kind is Kind.WAIT:
        spec["rateLimits"] = {"perContactPerMinute": 1, "perTenantPerMinute": 100}
    if kind is Kind.BUDGET_SPENT:
        spec["llm"] = {"monthlyTokenBudget": 0}
    await harness.apply_tenant(**spec)
    match kind:
        case Kind.FALLBACK:
            harness.gemini.script(Reply.bad_key())
            await harness.run(await harness.ingest("qual o status do meu pedido?"))
        case Kind.NO_ANSWER | Kind.BUDGET_SPENT:
            await harness.run(await harness.ingest(NOTHING_KNOWN))
        case Kind.HANDOFF | Kind.HANDOFF_AFTER_HOURS:
            await harness.run(await harness.ingest("quero um atendente"))
        case Kind.STILL_WAITING:
            await harness.run(await harness.ingest("quero um atendente"))
            await harness.run(await harness.ingest("atendente!!"))
        case Kind.WAIT:
            await harness.run(await harness.ingest("Primeira pergunta"))
            assert await harness.attempt(await harness.ingest("Segunda pergunta")) is not None
        case Kind.BLOCKED:
            harness.gemini.script(Reply.safety_block())
            await harness.run(await harness.ingest("texto ofensivo"))
        case Kind.MEDIA_NOT_UNDERSTOOD:
            await harness.run(await harness.ingest("", kind="sticker"))
    return harness.delivered()[-1]


@pytest.mark.parametrize("kind", list(Kind), ids=str)
async def test_every_fixed_message_is_the_tenants_own_text(
    make_harness: Callable[..., Harness], kind: Kind
) -> None:
    own = {kind.value: f"[{kind.value}] Aqui é a {{empresa}}, {{{{sempre}}}} com você."}
    assert await said(make_harness, kind, messages=own) == (
        f"[{kind.value}] Aqui é a ACME Telecom, {{sempre}} com você."
    )


DEFAULTS = {
    "pt-BR": {
        Kind.FALLBACK: "Desculpe, não consegui responder agora. Pode tentar de novo daqui a pouco?",
        Kind.HANDOFF_AFTER_HOURS: "Certo! Sua conversa já está na fila de atendimento humano. "
        "Nossa equipe volta amanhã às 8h e continua com você por aqui.",
        Kind.MEDIA_NOT_UNDERSTOOD: "Por enquanto eu só consigo ler mensagens de texto. "
        "Pode me escrever sua dúvida?",
    },
    "en": {
        Kind.FALLBACK: "Sorry, I couldn't answer just now. Could you try again in a little while?",
        Kind.HANDOFF_AFTER_HOURS: "Sure! Your conversation is already in the queue for a human "
        "agent. Our team is back tomorrow at 8 AM and will continue with you here.",
        Kind.MEDIA_NOT_UNDERSTOOD: "For now I can only read text messages. "
        "Could you type your question?",
    },
    "es": {
        Kind.FALLBACK: "Lo siento, no pude responder ahora. "
        "¿Puedes intentarlo de nuevo en un rato?",
        Kind.HANDOFF_AFTER_HOURS: "¡Claro! Tu conversación ya está en la fila de atención humana. "
        "Nuestro equipo vuelve mañana a las 8:00 y seguirá contigo aquí.",
        Kind.MEDIA_NOT_UNDERSTOOD: "Por ahora solo puedo leer mensajes de texto. "
        "¿Puedes escribir tu pregunta?",
    },
}


@pytest.mark.parametrize(
    ("language", "kind"),
    [(language, kind) for language, texts in DEFAULTS.items() for kind in texts],
    ids=lambda v: str(v),
)
async def test_left_out_a_message_has_a_default_in_the_persona_language(
    make_harness: Callable[..., Harness], language: str, kind: Kind
) -> None:
    assert await said(make_harness, kind, language=language) == DEFAULTS[language][kind]


@pytest.mark.parametrize("kind", [Kind.NO_ANSWER, Kind.FALLBACK, Kind.BLOCKED, Kind.BUDGET_SPENT])
async def test_a_default_names_the_handoff_keyword_only_when_there_is_one(
    make_harness: Callable[..., Harness], kind: Kind
) -> None:
    without = await said(make_harness, kind)
    assert "escrever" not in without
    assert "falar com" not in without

    with_keyword = await said(make_harness, kind, handoff=KEYWORDS)
    assert with_keyword.endswith(
        'Se quiser falar com uma pessoa, é só escrever "falar com humano".'
    )
    assert '"atendente"' not in with_keyword


async def test_with_handoffs_off_no_default_offers_a_person(
    make_harness: Callable[..., Harness],
) -> None:
    for kind in (Kind.NO_ANSWER, Kind.FALLBACK, Kind.BLOCKED, Kind.BUDGET_SPENT):
        text = await said(make_harness, kind, features={"handoff": False}, handoff=KEYWORDS)
        assert "atendente" not in text, kind
        assert "pessoa" not in text, kind


async def test_the_keyword_named_by_the_no_answer_reply_does_hand_over(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(gemini_api_key=None)
    await harness.apply_tenant(handoff=KEYWORDS)
    await harness.run(await harness.ingest(NOTHING_KNOWN))
    assert harness.delivered()[-1].endswith('é só escrever "falar com humano".')
    await harness.run(await harness.ingest("falar com humano"))
    assert harness.delivered()[-1] == (
        "Certo! Chamei um atendente humano: ele continua a conversa com você por aqui em breve."
    )


async def test_placeholders_say_when_people_are_back_and_the_weekly_hours(
    make_harness: Callable[..., Harness],
) -> None:
    messages = {"handoffAfterHours": "A {empresa} atende {horario}. Voltamos {quando}."}
    assert await said(make_harness, Kind.HANDOFF_AFTER_HOURS, messages=messages) == (
        "A ACME Telecom atende seg a sex 08:00-18:00. Voltamos amanhã às 8h."
    )


async def test_the_wait_notice_may_say_how_long(make_harness: Callable[..., Harness]) -> None:
    wait = {"wait": "Muitas mensagens: respondo em até {minutos} min."}
    assert await said(make_harness, Kind.WAIT, messages=wait) == (
        "Muitas mensagens: respondo em até 1 min."
    )


async def test_the_deprecated_persona_fallback_still_works_and_messages_wins(
    make_harness: Callable[..., Harness],
) -> None:
    persona = {"systemPrompt": PERSONA, "fallbackMessage": "Fora do ar {agora}."}
    assert await said(make_harness, Kind.FALLBACK, persona=persona) == "Fora do ar {agora}."
    both = await said(
        make_harness, Kind.FALLBACK, persona=persona, messages={"fallback": "Novo texto."}
    )
    assert both == "Novo texto."
