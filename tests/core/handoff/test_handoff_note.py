"""The agent's note of a handoff: written by Gemini (the extractive packet when it cannot be),
posted once into the ticket's internal notes where the variant has them, never to the customer,
and kept for the panel everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, update

from services.core.db import transaction
from services.core.handoff.note import post_note
from services.core.handoff.transfer import transfer
from services.core.models import Handoff
from services.core.retry import RetryLater
from services.core.turns.handoff_note import MAX_CHARS, summarize
from tests.fixtures.turns import PHONE, Harness
from tests.standins.gemini import Reply
from tests.standins.whaticket import WhaticketStandIn

from .test_handoff import BOT_QUEUE, IN_HOURS, handoffs, with_agent
from .test_handoff import whaticket as whaticket  # the two-queue stand-in

ABSTRACT = "Cliente contesta uma cobrança em dobro na fatura e já informou o CPF 123.456.789-09."
VARIANTS_WITH_NOTES = ("saas", "ticketz", "v6")


async def handed_over(harness: Harness, whaticket: WhaticketStandIn, **agent: Any) -> Handoff:
    """A conversation with one bot answer, then the customer asks for a person; the ticket moved."""
    await with_agent(harness, **agent)
    whaticket.add_ticket(PHONE, queue_id=BOT_QUEUE)
    harness.gemini.script(Reply.text("Posso ajudar com a fatura?"))
    await harness.run(await harness.ingest("fui cobrado duas vezes, CPF 123.456.789-09"))
    await harness.run(await harness.ingest("quero falar com um atendente"))
    [handoff] = await handoffs(harness)
    await transfer(harness.deps, handoff.id)
    return handoff


async def the_handoff(harness: Harness) -> Handoff:
    [handoff] = await handoffs(harness)
    return handoff


def customer_texts(harness: Harness) -> list[str]:
    return [t.removeprefix("\u200e ") for t in harness.delivered()]


def ticket_requests(whaticket: WhaticketStandIn, path: str) -> list[dict[str, Any]]:
    return [r for r in whaticket.requests() if r["path"].startswith(path)]


@pytest.mark.parametrize("whaticket_variant", ["community", "saas", "ticketz", "v6"])
async def test_the_summary_lands_in_the_ticket_once_where_the_variant_has_private_notes(
    harness: Harness, whaticket: WhaticketStandIn, whaticket_variant: str
) -> None:
    handoff = await handed_over(harness, whaticket)
    harness.gemini.script(Reply.text(ABSTRACT))

    await post_note(harness.deps, handoff.id, summarize)
    await post_note(harness.deps, handoff.id, summarize)  # the job again: nothing new

    done = await the_handoff(harness)
    assert done.note_source == "gemini"
    assert done.note_text is not None
    assert f"Resumo: {ABSTRACT}" in done.note_text
    assert "Motivo:" in done.note_text
    assert "O bot respondeu: Posso ajudar com a fatura?" in done.note_text
    # the summary request saw this conversation, the customer's words fenced
    request = harness.gemini.last_request
    assert "resume conversas de atendimento" in request.system_instruction
    assert request.function_names == []
    assert "fui cobrado duas vezes" in request.last_user_text
    assert "<<cliente id=" in request.last_user_text
    # nothing of it reached the customer: only the handoff notice was sent
    assert customer_texts(harness) == ["Posso ajudar com a fatura?", IN_HOURS]
    assert not ticket_requests(whaticket, "/messages")
    if whaticket_variant == "community":
        assert (done.note_status, done.note_posted_at) == ("panel_only", None)
        assert "community has no internal notes" in (done.note_detail or "")
        assert whaticket.notes() == []
        assert not ticket_requests(whaticket, "/ticket-notes")
        return
    assert done.note_status == "posted"
    assert done.note_posted_at is not None
    [ticket] = whaticket.tickets()
    notes = whaticket.notes()
    assert notes
    assert all(n["ticketId"] == ticket["id"] for n in notes)
    assert all(n["contactId"] == ticket["contactId"] for n in notes)
    assert all(n["userId"] == 1 for n in notes)  # posted as the agent user
    assert all(len(n["note"]) <= 255 for n in notes)  # TicketNotes.note is varchar(255)
    assert notes[0]["note"].startswith(f"[Atende #{handoff.id} 1/{len(notes)}] Motivo:")
    assert ABSTRACT[:80] in " ".join(n["note"] for n in notes)


@pytest.mark.parametrize("whaticket_variant", VARIANTS_WITH_NOTES)
async def test_a_worker_killed_after_posting_does_not_post_again(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket)
    harness.gemini.script(Reply.text(ABSTRACT))
    await post_note(harness.deps, handoff.id, summarize)
    posted = whaticket.notes()
    # As if the worker died between Whaticket's answer and the mark, its lease lapsed.
    async with transaction(harness.sessionmaker) as session:
        await session.execute(
            update(Handoff)
            .where(Handoff.id == handoff.id)
            .values(note_status=None, note_claimed_at=None)
        )

    await post_note(harness.deps, handoff.id, summarize)

    assert whaticket.notes() == posted
    assert (await the_handoff(harness)).note_status == "posted"
    assert harness.gemini.request_count == 2  # the text was kept: no second summary


async def test_a_run_holding_the_lease_keeps_a_second_copy_out(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket)
    async with transaction(harness.sessionmaker) as session:  # another run is at work
        await session.execute(
            update(Handoff).where(Handoff.id == handoff.id).values(note_claimed_at=func.now())
        )
    with pytest.raises(RetryLater):  # it looks again once that run's lease may have lapsed
        await post_note(harness.deps, handoff.id, summarize)
    assert whaticket.notes() == []
    assert (await the_handoff(harness)).note_status is None


async def test_gemini_failing_leaves_the_extractive_packet(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket)
    harness.gemini.script(Reply.error(503))

    await post_note(harness.deps, handoff.id, summarize)

    done = await the_handoff(harness)
    assert (done.note_status, done.note_source) == ("posted", "extractive")
    assert done.note_text is not None
    assert "Resumo:" not in done.note_text
    assert "Pedido: quero falar com um atendente" in done.note_text
    assert "cpf: 123.456.789-09" in done.note_text
    assert any("cpf: 123.456.789-09" in n["note"] for n in whaticket.notes())


async def test_over_budget_no_model_is_asked_for_the_summary(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket, llm={"monthlyTokenBudget": 5})
    asked = harness.gemini.request_count  # the turn's answer spent the budget

    await post_note(harness.deps, handoff.id, summarize)

    assert harness.gemini.request_count == asked
    assert (await the_handoff(harness)).note_source == "extractive"


async def test_a_model_the_platform_does_not_pay_for_is_not_asked_either(
    make_harness: Callable[..., Harness], whaticket: WhaticketStandIn
) -> None:
    harness = make_harness(platform_models=["gemini-2.5-flash"])
    await with_agent(harness, llm={"model": "gemini-3-ultra-preview"})
    whaticket.add_ticket(PHONE, queue_id=BOT_QUEUE)
    await harness.run(await harness.ingest("atendente"))
    [handoff] = await handoffs(harness)
    await transfer(harness.deps, handoff.id)

    await post_note(harness.deps, handoff.id, summarize)

    assert harness.gemini.request_count == 0
    done = await the_handoff(harness)
    assert (done.note_status, done.note_source) == ("posted", "extractive")


async def test_a_long_abstract_is_cut_and_the_note_split_within_whaticket_limits(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket)
    harness.gemini.script(Reply.text("Cliente muito insatisfeito com a cobrança. " * 40))

    await post_note(harness.deps, handoff.id, summarize)

    done = await the_handoff(harness)
    assert done.note_text is not None
    [abstract] = [line for line in done.note_text.splitlines() if line.startswith("Resumo: ")]
    assert len(abstract) <= len("Resumo: ") + MAX_CHARS
    notes = whaticket.notes()
    assert 1 < len(notes) <= 4
    assert all(len(n["note"]) <= 255 for n in notes)
    assert [n["note"].split("]")[0] for n in notes] == [
        f"[Atende #{handoff.id} {i}/{len(notes)}" for i in range(1, len(notes) + 1)
    ]


async def test_whaticket_down_retries_then_posts_once(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    handoff = await handed_over(harness, whaticket)
    whaticket.set_mode(notes_fail=502)
    with pytest.raises(RetryLater):
        await post_note(harness.deps, handoff.id, summarize)
    waiting = await the_handoff(harness)
    assert (waiting.note_status, waiting.note_attempts, waiting.note_detail) == (
        None,
        1,
        "whaticket_tickets_502",
    )
    assert waiting.note_text is not None  # written once, kept for the retry

    whaticket.set_mode(notes_fail=None)
    await post_note(harness.deps, handoff.id, summarize)
    done = await the_handoff(harness)
    assert (done.note_status, done.note_attempts) == ("posted", 2)
    assert len({n["note"] for n in whaticket.notes()}) == len(whaticket.notes())


async def test_a_failed_transfer_keeps_the_note_for_the_panel(
    harness: Harness, whaticket: WhaticketStandIn
) -> None:
    await harness.apply_tenant(  # the agent cannot log in: the transfer fails for good
        agent_password="wrong-password", handoff_queue_id=3, handoff={"keywords": ["atendente"]}
    )
    await harness.run(await harness.ingest("atendente"))
    [handoff] = await handoffs(harness)
    await transfer(harness.deps, handoff.id)

    await post_note(harness.deps, handoff.id, summarize)

    done = await the_handoff(harness)
    assert (done.status, done.note_status) == ("failed", "panel_only")
    assert done.note_text is not None
    assert whaticket.notes() == []
