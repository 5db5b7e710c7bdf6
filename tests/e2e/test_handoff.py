"""A handoff through the real processes: webhook, worker turn, transfer job, Whaticket ticket,
and the agent's note in it."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core import jobs
from services.core.models import Handoff, Turn
from services.core.redis import create_redis
from tests.standins.gemini import Reply

from .conftest import CUSTOMER, Stack, baileys_text, eventually


async def test_a_customer_asking_for_a_person_gets_one_and_the_bot_goes_quiet(
    stack: Stack,
) -> None:
    await stack.apply_tenant(handoff=True)
    # The customer's first message opens the ticket Whaticket would have (in no queue yet).
    stack.whaticket.add_ticket(CUSTOMER)
    response = await stack.post(baileys_text("HANDOFF-1", "quero falar com um atendente"))
    assert response.status_code == 200

    [sent] = await stack.wait_sent(1, number=CUSTOMER)
    assert sent["text"] == (  # no business hours set: people are always at work
        "Certo! Chamei um atendente humano: ele continua a conversa com você por aqui em breve."
    )

    async def moved() -> dict[str, Any] | None:
        [ticket] = stack.whaticket.tickets()
        return ticket if ticket["status"] == "open" else None

    ticket = await eventually(moved, within=15, what="the ticket to be assigned")
    assert (ticket["userId"], ticket["queueId"]) == (1, 1)  # saas: assigned to the agent user

    async def recorded() -> Handoff | None:  # the worker commits just after Whaticket answers
        [handoff] = await stack.rows(Handoff)
        return handoff if handoff.status != "requested" else None

    handoff = await eventually(recorded, within=5, what="the transfer to be recorded")
    assert (handoff.trigger, handoff.status, handoff.ticket_id) == (
        "keyword",
        "transferred",
        ticket["id"],
    )

    await stack.post(baileys_text("HANDOFF-2", "alô?"))

    async def absorbed() -> list[Turn]:
        return [t for t in await stack.rows(Turn) if t.status == "human"]

    await eventually(absorbed, within=10, what="the second message to be kept for the person")
    await asyncio.sleep(0.5)
    assert len(stack.sent_to(CUSTOMER)) == 1  # the bot stayed quiet


ABSTRACT = "Cliente quer entender uma cobrança em dobro na fatura de novembro."


async def _handed_over_with_a_note(stack: Stack) -> Handoff:
    """One answer by the bot, then the customer asks for a person; the handoff's note written."""
    await stack.apply_tenant(handoff=True)
    stack.whaticket.add_ticket(CUSTOMER)
    await stack.post(baileys_text("NOTE-1", "minha fatura veio em dobro"))
    await stack.wait_sent(1, number=CUSTOMER)
    stack.gemini.script(Reply.text(ABSTRACT))  # the next model call: the note's abstract
    await stack.post(baileys_text("NOTE-2", "quero falar com um atendente"))
    await stack.wait_sent(2, number=CUSTOMER)

    async def written() -> Handoff | None:
        found = await stack.rows(Handoff)
        return found[0] if found and found[0].note_text else None

    return await eventually(written, within=20, what="the handoff's note to be written")


async def _settled(stack: Stack) -> Handoff:
    async def marked() -> Handoff | None:
        [handoff] = await stack.rows(Handoff)
        return handoff if handoff.note_status is not None else None

    return await eventually(marked, within=30, what="the note to be marked")


async def _panel_page(stack: Stack, path: str) -> str:
    code, out, err = await stack.run_cli(
        "users", "create", "--email", PANEL_EMAIL, "--role", "platform_admin",
        "--password-stdin", stdin=f"{PANEL_PASSWORD}\n",
    )  # fmt: skip
    assert code == 0, (out, err)
    login = await stack.http.post(
        "/panel/login", data={"email": PANEL_EMAIL, "password": PANEL_PASSWORD, "next": "/panel"}
    )
    assert login.status_code == 303, login.text
    cookies = "; ".join(f"{c.name}={c.value}" for c in login.cookies.jar)
    page = await stack.http.get(path, headers={"Cookie": cookies})
    assert page.status_code == 200, page.text
    return page.text


PANEL_EMAIL, PANEL_PASSWORD = "ops@atende.test", "e2e-handoff-note-password"


async def test_the_agent_finds_the_summary_in_the_ticket_once_and_in_the_panel(
    stack: Stack,
) -> None:
    await _handed_over_with_a_note(stack)
    handoff = await _settled(stack)
    assert (handoff.note_status, handoff.note_source) == ("posted", "gemini")
    [ticket] = stack.whaticket.tickets()
    notes = stack.whaticket.notes()
    assert [n["ticketId"] for n in notes] == [ticket["id"]] * len(notes)
    assert notes[0]["note"].startswith(f"[Atende #{handoff.id} 1/{len(notes)}] Motivo:")
    assert ABSTRACT in " ".join(n["note"] for n in notes)

    # The job again (as the watcher would enqueue it): nothing new in the ticket.
    arq = create_redis(stack.env["ATENDE_REDIS_URL"])
    try:
        assert await jobs.enqueue_handoff_note(arq, handoff.id, suffix="again")
    finally:
        await arq.aclose()
    await asyncio.sleep(1.5)
    assert stack.whaticket.notes() == notes
    # The customer read the bot's answer and the handoff notice, and never the summary.
    texts = [s["text"] for s in stack.sent_to(CUSTOMER)]
    assert len(texts) == 2
    assert not any(ABSTRACT in t or "Motivo:" in t for t in texts)
    assert not [r for r in stack.whaticket.requests() if r["path"].startswith("/messages")]

    page = await _panel_page(stack, f"/panel/conversations/{handoff.conversation_id}")
    assert f"publicada no ticket #{ticket['id']}" in page  # pt-BR, the panel's default
    assert ABSTRACT in page


async def test_a_worker_killed_while_posting_the_note_posts_it_once_after_restart(
    stack: Stack,
) -> None:
    stack.whaticket.set_mode(notes_delay=2.0)  # each /ticket-notes call takes 2 s
    await _handed_over_with_a_note(stack)

    # 2 s reading the ticket's notes, then the post, itself 2 s: killed while it is in flight,
    # timed from the read's answer (the stand-in logs a request once it has answered it).
    async def read() -> bool:
        return any(r["path"] == "/ticket-notes/list" for r in stack.whaticket.requests())

    await eventually(read, within=20, what="the worker to read the ticket's notes")
    await asyncio.sleep(1.0)
    assert stack.worker is not None
    stack.worker.kill()

    async def stored() -> list[dict[str, Any]]:
        return stack.whaticket.notes()

    before = await eventually(stored, within=5, what="Whaticket to store the posted note")
    [handoff] = await stack.rows(Handoff)
    assert handoff.note_status is None  # posted, and the worker died before marking it

    stack.whaticket.set_mode(notes_delay=0.0)
    stack.start_worker()
    await stack.wait_worker_ready()
    handoff = await _settled(stack)  # the watcher's copy of the job, once the lease lapsed

    assert handoff.note_status == "posted"
    notes = stack.whaticket.notes()
    assert notes[: len(before)] == before  # the part stored before the kill was not posted again
    assert len({n["note"] for n in notes}) == len(notes)  # each part once
    assert notes[0]["note"].startswith(f"[Atende #{handoff.id} 1/{len(notes)}]")
    assert len(stack.sent_to(CUSTOMER)) == 2
