"""Handing a conversation to a person: triggers, the ticket move per variant, the bot's
silence while a person has it, and the honest words the customer reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.core.db import transaction
from services.core.handoff.service import request_handoff
from services.core.handoff.transfer import transfer
from services.core.models import Conversation, Handoff
from tests.fixtures.turns import PHONE, WHATICKET_TOKEN, Harness
from tests.standins.gemini import Reply
from tests.standins.whaticket import WhaticketStandIn

AGENT_PASSWORD = "bot-password"
BOT_QUEUE, PEOPLE_QUEUE = 1, 3
QUEUES = (
    {"id": BOT_QUEUE, "name": "Assistente", "color": "#00f"},
    {"id": PEOPLE_QUEUE, "name": "Atendimento", "color": "#0f0"},
)
WORKWEEK = {
    "timezone": "America/Sao_Paulo",
    "weekly": {d: ["08:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
}
IN_HOURS = "Certo! Chamei um atendente humano: ele continua a conversa com você por aqui em breve."


@pytest.fixture
def whaticket(whaticket_variant: str) -> Iterator[WhaticketStandIn]:
    """Two queues: the one whose integration forwards to the bot, and the people's."""
    with WhaticketStandIn(whaticket_variant, [WHATICKET_TOKEN], queues=QUEUES) as server:
        yield server


def at(instant: str) -> Any:
    moment = datetime.fromisoformat(instant).replace(tzinfo=UTC)
    return lambda: moment


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def handoffs(harness: Harness) -> list[Handoff]:
    async with harness.sessionmaker() as session:
        return list(await session.scalars(select(Handoff).order_by(Handoff.id)))


async def conversation_state(harness: Harness) -> str:
    async with harness.sessionmaker() as session:
        return str(await session.scalar(select(Conversation.state)))


async def with_agent(harness: Harness, **overrides: Any) -> None:
    keywords = {"handoff": {"keywords": ["atendente", "falar com humano"], "slaMinutes": 15}}
    await harness.apply_tenant(
        agent_password=AGENT_PASSWORD,
        handoff_queue_id=PEOPLE_QUEUE,
        **(keywords | overrides),
    )


@pytest.mark.parametrize("whaticket_variant", ["community", "saas", "ticketz", "v6"])
async def test_a_keyword_moves_the_ticket_the_way_each_variant_honours(
    harness: Harness, whaticket: WhaticketStandIn, whaticket_variant: str
) -> None:
    await with_agent(harness)
    ticket = whaticket.add_ticket(PHONE, queue_id=BOT_QUEUE)
    before = metric("atende_handoffs_total", tenant="acme", trigger="keyword")

    await harness.run(await harness.ingest("Quero falar com um ATENDÊNTE, por favor"))

    assert harness.gemini.request_count == 0  # the customer's words decide; no model call
    # (v6 prefixes every API message with a left-to-right mark)
    assert [t.removeprefix("\u200e ") for t in harness.delivered()] == [IN_HOURS]
    assert await conversation_state(harness) == "human"
    [handoff] = await handoffs(harness)
    assert (handoff.trigger, handoff.status) == ("keyword", "requested")
    assert metric("atende_handoffs_total", tenant="acme", trigger="keyword") == before + 1

    await transfer(harness.deps, handoff.id)  # the job enqueued after the commit

    [moved] = whaticket.tickets()
    expected = {
        # saas-classic only stops its integration for a ticket assigned to a user
        "saas": ("open", 1, PEOPLE_QUEUE),
        "v6": ("pending", None, PEOPLE_QUEUE),
        "community": ("pending", None, PEOPLE_QUEUE),
        "ticketz": ("pending", None, PEOPLE_QUEUE),
    }[whaticket_variant]
    assert (moved["status"], moved["userId"], moved["queueId"]) == expected
    if whaticket_variant == "v6":
        assert moved["useIntegration"] is False
    [listing] = [r for r in whaticket.requests() if r["path"] == "/tickets"]
    query = parse_qs(listing["query"])
    assert query["searchParam"] == [PHONE]
    assert query["showAll"] == ["true"]
    # the filter trap: without every queue id the ticket in the bot's queue is invisible
    assert json.loads(query["queueIds"][0]) == [BOT_QUEUE, PEOPLE_QUEUE]
    [done] = await handoffs(harness)
    assert (done.status, done.ticket_id, done.queue_id) == ("transferred", ticket["id"], 3)

    await transfer(harness.deps, handoff.id)  # a duplicate job changes nothing
    assert len([r for r in whaticket.requests() if r["method"] == "PUT"]) == 1


async def test_the_bot_stays_silent_while_a_person_has_the_conversation(
    harness: Harness,
) -> None:
    await with_agent(harness)
    await harness.run(await harness.ingest("atendente"))
    await harness.run(await harness.ingest("alô? tem alguém aí?"))
    await harness.run(await harness.ingest("preciso da segunda via"))

    assert harness.delivered() == [IN_HOURS]
    assert harness.gemini.request_count == 0
    assert [t.status for t in await harness.turns()] == ["answered", "human", "human"]
    assert len(await handoffs(harness)) == 1  # asking again changes nothing


async def test_the_model_can_hand_over_with_its_summary_for_the_agent(harness: Harness) -> None:
    await with_agent(harness)
    harness.gemini.script(
        Reply.text("Posso ajudar com a fatura?"),
        Reply.handoff(reason="contestação de cobrança", summary="Cliente contesta a fatura"),
    )
    await harness.run(await harness.ingest("oi, tenho uma dúvida na fatura"))
    await harness.run(
        await harness.ingest("fui cobrado duas vezes, CPF 123.456.789-09, maria@example.com")
    )

    assert harness.gemini.requests[1].function_names == ["transfer_to_human"]
    assert harness.delivered()[-1] == IN_HOURS  # honest words, not the model's promise
    [handoff] = await handoffs(harness)
    assert handoff.trigger == "tool"
    summary = handoff.summary
    assert summary["intent"] == "Cliente contesta a fatura"
    assert summary["reason"] == "contestação de cobrança"
    assert summary["data"] == {"email": ["maria@example.com"], "cpf": ["123.456.789-09"]}
    assert summary["bot_tried"] == ["Posso ajudar com a fatura?"]
    assert summary["customer_said"][0] == "oi, tenho uma dúvida na fatura"


async def test_out_of_hours_the_promise_names_the_opening_and_insisting_gets_one_reminder(
    harness: Harness,
) -> None:
    await with_agent(harness, businessHours=WORKWEEK)
    harness.deps.clock = at("2026-11-24T23:30")  # Tuesday 20:30 in São Paulo
    await harness.run(await harness.ingest("quero um atendente"))
    await harness.run(await harness.ingest("atendente!!"))
    await harness.run(await harness.ingest("ATENDENTE"))  # within the hour: no new reminder
    await harness.run(await harness.ingest("ok, obrigado"))  # not asking: silence

    assert harness.delivered() == [
        "Certo! Sua conversa já está na fila de atendimento humano. Nossa equipe volta amanhã "
        "às 8h e continua com você por aqui.",
        "Sua conversa continua na fila de atendimento humano. Nossa equipe volta amanhã às 8h.",
    ]
    assert [t.status for t in await harness.turns()] == ["answered", "human", "human", "human"]


async def test_a_failed_turn_hands_over_when_an_agent_can_take_it(harness: Harness) -> None:
    await with_agent(harness)
    harness.gemini.script(Reply.error(400, message="Request contains an invalid argument."))
    await harness.run(await harness.ingest("qual o status do meu pedido 778899?"))

    [handoff] = await handoffs(harness)
    assert handoff.trigger == "failure"
    assert handoff.summary["data"] == {"number": ["778899"]}
    assert [t.status for t in await harness.turns()] == ["dead"]
    assert await conversation_state(harness) == "human"


async def test_a_failed_turn_without_an_agent_keeps_the_bot_answering(harness: Harness) -> None:
    await harness.apply_tenant()
    harness.gemini.script(
        Reply.error(400, message="Request contains an invalid argument."), Reply.text("Oi!")
    )
    await harness.run(await harness.ingest("pergunta que falha"))
    await harness.run(await harness.ingest("oi"))

    assert await handoffs(harness) == []
    assert harness.delivered()[-1] == "Oi!"


async def test_a_customer_repeating_themselves_goes_to_a_person(harness: Harness) -> None:
    await with_agent(harness)
    harness.gemini.script(Reply.text("Pode detalhar?"), Reply.text("Pode detalhar melhor?"))
    for _ in range(3):
        await harness.run(await harness.ingest("minha internet não funciona"))

    assert harness.gemini.request_count == 2
    assert harness.delivered()[-1] == IN_HOURS
    [handoff] = await handoffs(harness)
    assert handoff.trigger == "repeated"


async def test_media_gets_a_polite_text_only_answer_then_a_person(harness: Harness) -> None:
    await with_agent(harness)
    await harness.run(await harness.ingest("", kind="audio"))
    assert harness.delivered() == [
        "Por enquanto eu só consigo ler mensagens de texto. Pode me escrever sua dúvida?"
    ]
    await harness.run(await harness.ingest("", kind="image"))  # again: a person can see it
    assert harness.delivered()[-1] == IN_HOURS
    [handoff] = await handoffs(harness)
    assert handoff.trigger == "media"
    assert harness.gemini.request_count == 0


async def test_handoffs_disabled_means_keywords_are_just_words(harness: Harness) -> None:
    await with_agent(harness, features={"handoff": False})
    harness.gemini.script(Reply.text("Nossos atendentes estão ocupados; posso ajudar?"))
    await harness.run(await harness.ingest("atendente"))
    assert await handoffs(harness) == []
    assert harness.gemini.requests[0].function_names == []


async def test_over_budget_with_an_agent_answers_from_knowledge_and_hands_over(
    harness: Harness,
) -> None:
    await with_agent(harness, llm={"monthlyTokenBudget": 10})
    harness.gemini.script(Reply.text("Olá!", prompt_tokens=10, output_tokens=5))
    await harness.run(await harness.ingest("oi"))
    await harness.run(await harness.ingest("Quais as formas de pagamento?"))

    assert harness.gemini.request_count == 1
    assert harness.delivered()[-1] == (f"Aceitamos Pix, boleto e cartão de crédito.\n\n{IN_HOURS}")
    [handoff] = await handoffs(harness)
    assert (handoff.trigger, handoff.reason) == ("budget", "llm_budget_exhausted")


async def test_a_transfer_that_cannot_log_in_fails_once_and_is_counted(harness: Harness) -> None:
    await harness.apply_tenant(agent_password="wrong-password", handoff_queue_id=PEOPLE_QUEUE)
    harness.whaticket.add_ticket(PHONE, queue_id=BOT_QUEUE)
    await harness.run(await harness.ingest("oi"))  # a conversation exists
    async with harness.sessionmaker() as session:
        conversation_id = await session.scalar(select(Conversation.id))
    assert harness.tenant is not None
    async with transaction(harness.sessionmaker) as session:
        handoff_id = await request_handoff(
            session,
            harness.tenant,
            conversation_id=int(conversation_id or 0),
            turn_id=None,
            trigger="keyword",
            reason="test",
            summary={},
        )
    assert handoff_id is not None
    before = metric("atende_handoff_transfers_total", tenant="acme", outcome="failed")
    await transfer(harness.deps, handoff_id)
    [handoff] = await handoffs(harness)
    assert (handoff.status, handoff.attempts) == ("failed", 1)
    assert "bot-password" not in (handoff.last_error or "")
    assert metric("atende_handoff_transfers_total", tenant="acme", outcome="failed") == before + 1
    assert not [r for r in harness.whaticket.requests() if r["method"] == "PUT"]
