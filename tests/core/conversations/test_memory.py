"""The model sees the conversation so far, from Redis or, when Redis lost it, from Postgres."""

from __future__ import annotations

import re

from services.core.conversations import memory
from services.core.db import autocommit
from services.core.llm.types import ChatMessage
from services.core.redis import create_redis
from tests.fixtures.turns import Harness
from tests.standins.gemini import RecordedRequest, Reply


def _wrapped(text: str) -> str:
    return f"<<cliente id=NONCE>>\n{text}\n<</cliente id=NONCE>>"


def _seen(request: RecordedRequest) -> list[tuple[str, str]]:
    """The contents with the request's boundary nonce — the one its system prompt names, the
    same in every customer turn of the request — written as ``NONCE``."""
    [nonce] = set(re.findall(r"<<cliente id=([0-9a-f]{16})>>", request.system_instruction))
    return [(role, text.replace(nonce, "NONCE")) for role, text in request.contents]


async def test_history_reaches_the_model_and_survives_a_redis_flush(harness: Harness) -> None:
    harness.gemini.script(
        Reply.text("Oi! Sou a Ana. Como posso ajudar?"),
        Reply.text("Temos planos de 300 e 500 mega."),
        Reply.text("O de 500 mega custa R$ 129,90."),
    )

    first = await harness.ingest("oi")
    await harness.run(first)
    second = await harness.ingest("quais planos vocês têm?")
    await harness.run(second)

    turn2 = harness.gemini.requests[1]
    assert _seen(turn2) == [
        ("user", _wrapped("oi")),
        ("model", "Oi! Sou a Ana. Como posso ajudar?"),
        ("user", _wrapped("quais planos vocês têm?")),
    ]

    await harness.redis.flushall()  # Redis loses everything; Postgres is the record
    third = await harness.ingest("e quanto custa o de 500?")
    await harness.run(third)

    turn3 = harness.gemini.requests[2]
    assert _seen(turn3) == [
        ("user", _wrapped("oi")),
        ("model", "Oi! Sou a Ana. Como posso ajudar?"),
        ("user", _wrapped("quais planos vocês têm?")),
        ("model", "Temos planos de 300 e 500 mega."),
        ("user", _wrapped("e quanto custa o de 500?")),
    ]
    assert harness.delivered() == [
        "Oi! Sou a Ana. Como posso ajudar?",
        "Temos planos de 300 e 500 mega.",
        "O de 500 mega custa R$ 129,90.",
    ]
    assert [t.status for t in await harness.turns()] == ["answered"] * 3


async def test_history_is_per_conversation(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Resposta para a Maria."), Reply.text("Resposta para o João."))
    maria = await harness.ingest("meu CPF é 123.456.789-00", phone="5511999998888")
    await harness.run(maria)
    joao = await harness.ingest("oi", phone="5521988887777")
    await harness.run(joao)

    joao_call = harness.gemini.requests[1]
    assert _seen(joao_call) == [("user", _wrapped("oi"))]
    sent = harness.whaticket.sent()
    assert [(s["number"], s["text"]) for s in sent] == [
        ("5511999998888", "Resposta para a Maria."),
        ("5521988887777", "Resposta para o João."),
    ]


async def test_rebuilt_history_matches_the_cached_one_after_a_fallback(
    harness: Harness,
) -> None:
    """A turn that ended in the fallback is in neither history; Redis and Postgres agree."""
    harness.gemini.script(
        Reply.text("Oi! Sou a Ana."),
        Reply.error(400, message="Request contains an invalid argument."),  # permanent
        Reply.text("Claro, posso ajudar com a fatura."),
        Reply.text("Claro, posso ajudar com a fatura."),
    )
    await harness.run(await harness.ingest("oi"))
    await harness.run(await harness.ingest("pergunta que falhou"))
    assert [t.status for t in await harness.turns()] == ["answered", "dead"]

    await harness.run(await harness.ingest("quero ver minha fatura"))  # history from Redis
    cached = _seen(harness.gemini.requests[2])
    await harness.redis.flushall()
    async with autocommit(harness.sessionmaker) as session:  # ask again with a cold cache
        [turn1, _, turn3] = await harness.turns()
        rebuilt = await memory.load_history(
            session, harness.redis, turn1.conversation_id, ttl_minutes=60, limit=20
        )
    assert cached == [
        ("user", _wrapped("oi")),
        ("model", "Oi! Sou a Ana."),
        ("user", _wrapped("quero ver minha fatura")),
    ]
    assert [(m.role, m.text) for m in rebuilt.messages] == [
        ("user", "oi"),
        ("model", "Oi! Sou a Ana."),
        ("user", "quero ver minha fatura"),
        ("model", "Claro, posso ajudar com a fatura."),
    ]
    assert turn3.status == "answered"


def test_the_window_never_starts_with_an_answer_and_summarizes_what_falls_out() -> None:
    messages = [
        ChatMessage("user", "quero trocar meu plano"),
        ChatMessage("model", "Qual plano você quer?"),
        ChatMessage("user", "o de 500 mega"),
        ChatMessage("model", "Certo, posso trocar hoje."),
        ChatMessage("user", "pode sim"),
    ]
    kept, summary = memory.window(messages, limit=4)
    # The 4 newest would start with an answer whose question is gone: the window drops it.
    assert [m.text for m in kept] == ["o de 500 mega", "Certo, posso trocar hoje.", "pode sim"]
    assert summary == ["quero trocar meu plano"]


async def test_a_long_conversation_keeps_a_rolling_summary(harness: Harness) -> None:
    await harness.apply_tenant(conversation={"debounceSeconds": 0, "maxContextMessages": 4})
    for n in range(4):
        harness.gemini.script(Reply.text(f"resposta {n}"))
        await harness.run(await harness.ingest(f"pergunta número {n}"))
    system = harness.gemini.last_request.system_instruction
    assert "Resumo do início desta conversa" in system
    assert "pergunta número 0" in system
    assert "pergunta número 2" not in system  # still in the window, not summarized


async def test_context_lives_in_the_cache_redis_when_one_is_set(
    harness: Harness, redis_url: str
) -> None:
    """With ATENDE_CACHE_REDIS_URL the queue's Redis holds only jobs: context goes to the cache."""
    cache_url = redis_url.rsplit("/", 1)[0] + "/3"
    cache = create_redis(cache_url)
    try:
        await cache.flushdb()
        harness.deps.cache_redis = cache
        harness.gemini.script(Reply.text("Oi!"))
        inbound_id = await harness.ingest("oi")
        await harness.run(inbound_id)
        turn = (await harness.turns())[0]
        assert await cache.exists(f"ctx:{turn.conversation_id}") == 0  # cold cache: rebuilt
        assert await harness.redis.exists(f"ctx:{turn.conversation_id}") == 0
        harness.gemini.script(Reply.text("Tudo bem!"))
        await harness.run(await harness.ingest("tudo bem?"))
        assert await cache.exists(f"ctx:{turn.conversation_id}") == 1
        assert await harness.redis.exists(f"ctx:{turn.conversation_id}") == 0
    finally:
        await cache.aclose()
