"""A handoff through the real processes: webhook, worker turn, transfer job, Whaticket ticket."""

from __future__ import annotations

import asyncio
from typing import Any

from services.core.models import Handoff, Turn

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
