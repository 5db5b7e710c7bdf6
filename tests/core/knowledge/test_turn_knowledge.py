"""A turn gives the model only the knowledge that matches the customer's words, answers from
the same search without a model, and records which snippets produced each reply."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from services.core.models import KnowledgeEntry as KnowledgeRow
from tests.fixtures.turns import KNOWLEDGE, Harness
from tests.standins.gemini import Reply

HOURS, PAYMENT = KNOWLEDGE


async def _entry_ids(harness: Harness) -> dict[str, int]:
    async with harness.sessionmaker() as session:
        rows = await session.execute(select(KnowledgeRow.question, KnowledgeRow.id))
        return {row.question: row.id for row in rows}


async def test_the_model_sees_only_the_matching_snippet(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Aceitamos Pix, boleto e cartão!"))
    inbound_id = await harness.ingest("Quais são as formas de pagamento?")

    await harness.run(inbound_id)

    [call] = harness.gemini.requests
    assert PAYMENT["question"] in call.system_instruction
    assert PAYMENT["answer"] in call.system_instruction
    assert HOURS["question"] not in call.system_instruction
    assert HOURS["answer"] not in call.system_instruction
    assert "responda perguntas factuais só a partir dela" in call.system_instruction
    [turn] = await harness.turns()
    assert turn.status == "answered"
    assert turn.knowledge_ids == [(await _entry_ids(harness))[PAYMENT["question"]]]


async def test_nothing_matching_means_no_snippet_and_no_ids(harness: Harness) -> None:
    harness.gemini.script(Reply.text("Vou chamar um atendente."))
    await harness.run(await harness.ingest("Meu roteador pegou fogo"))

    [call] = harness.gemini.requests
    assert PAYMENT["answer"] not in call.system_instruction
    assert HOURS["answer"] not in call.system_instruction
    assert "nada na base sobre esta mensagem" in call.system_instruction
    [turn] = await harness.turns()
    assert turn.knowledge_ids == []


async def test_the_offline_responder_answers_from_the_index(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(gemini_api_key=None)
    await harness.apply_tenant()
    # No word in common with the entry ("pagamentos", "parcelados"): only stemming finds it.
    await harness.run(await harness.ingest("Vocês aceitam pagamentos parcelados?"))

    assert harness.gemini.request_count == 0
    assert harness.delivered() == [PAYMENT["answer"]]
    [turn] = await harness.turns()
    assert (turn.model, turn.knowledge_ids) == (
        "offline",
        [(await _entry_ids(harness))[PAYMENT["question"]]],
    )

    await harness.run(await harness.ingest("Meu roteador pegou fogo"))
    # spec.messages.noAnswer's default: no handoff keyword to promise
    assert harness.delivered()[-1] == (
        "Ainda não sei responder isso por aqui. Pode perguntar de outro jeito?"
    )
    assert (await harness.turns())[-1].knowledge_ids == []


async def test_changed_knowledge_reaches_the_next_turn_not_the_cache(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(gemini_api_key=None)
    await harness.apply_tenant()
    await harness.run(await harness.ingest("Quais são as formas de pagamento?"))
    assert harness.delivered() == [PAYMENT["answer"]]

    only_pix = {"question": PAYMENT["question"], "answer": "Agora só aceitamos Pix."}
    await harness.apply_tenant(knowledge={"entries": [HOURS, only_pix]})
    await harness.run(await harness.ingest("Quais são as formas de pagamento?"))

    assert harness.delivered()[-1] == "Agora só aceitamos Pix."
    assert (await harness.turns())[-1].knowledge_ids == [
        (await _entry_ids(harness))[PAYMENT["question"]]
    ]


async def test_over_budget_answers_from_the_same_search(harness: Harness) -> None:
    await harness.apply_tenant(llm={"monthlyTokenBudget": 0})
    await harness.run(await harness.ingest("Vocês aceitam pagamentos parcelados?"))

    assert harness.gemini.request_count == 0
    assert harness.delivered()[-1].startswith(PAYMENT["answer"] + "\n\n")
    [turn] = await harness.turns()
    assert (turn.model, turn.knowledge_ids) == (
        "offline",
        [(await _entry_ids(harness))[PAYMENT["question"]]],
    )
