"""After the handoff: a person's presence, the SLA alert, and the rules that bring the bot back
(ticket closed, silence, the explicit command) with a marker in the model's context."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, text
from structlog.testing import capture_logs

from services.core.channels.baileys import BusinessMessage
from services.core.conversations.memory import HUMAN_WAS_HERE, NEW_SESSION
from services.core.db import transaction
from services.core.handoff.presence import note_business_message
from services.core.handoff.transfer import transfer
from services.core.handoff.watch import watch
from services.core.models import Conversation, Handoff
from tests.fixtures.turns import PHONE, WHATICKET_TOKEN, Harness
from tests.standins.gemini import Reply
from tests.standins.whaticket import User, WhaticketStandIn

PEOPLE_QUEUE = 3
PERSON = User(2, "Joana", "joana@example.com", "joana-password", profile="user")


@pytest.fixture
def whaticket(whaticket_variant: str) -> Iterator[WhaticketStandIn]:
    users = (User(1, "Bot", "bot@example.com", "bot-password"), PERSON)
    queues = ({"id": 1, "name": "Assistente"}, {"id": PEOPLE_QUEUE, "name": "Atendimento"})
    with WhaticketStandIn(whaticket_variant, [WHATICKET_TOKEN], users=users, queues=queues) as wt:
        yield wt


def later(minutes: float) -> Any:
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def handoff(harness: Harness) -> Handoff:
    async with harness.sessionmaker() as session:
        found = await session.scalar(select(Handoff).order_by(Handoff.id.desc()).limit(1))
    assert found is not None
    return found


async def state(harness: Harness) -> str:
    async with harness.sessionmaker() as session:
        return str(await session.scalar(select(Conversation.state)))


async def handed_over(harness: Harness, **overrides: Any) -> int:
    """A tenant with an agent, a ticket in the bot's queue, and a transferred handoff."""
    settings = {"handoff": {"keywords": ["atendente"], "slaMinutes": 15}} | overrides
    await harness.apply_tenant(
        agent_password="bot-password", handoff_queue_id=PEOPLE_QUEUE, **settings
    )
    ticket = harness.whaticket.add_ticket(PHONE, queue_id=1)
    await harness.run(await harness.ingest("atendente"))
    await transfer(harness.deps, (await handoff(harness)).id)
    return int(ticket["id"])


async def business(harness: Harness, text: str) -> str:
    assert harness.tenant is not None
    message = BusinessMessage("3EB0AGENT" + str(abs(hash(text))), text, PHONE, None)
    async with transaction(harness.sessionmaker) as session:
        return await note_business_message(session, harness.tenant, "main", message)


async def test_a_closed_ticket_gives_the_conversation_back_with_a_marker(
    harness: Harness,
) -> None:
    ticket_id = await handed_over(harness)
    assert await watch(harness.deps) == 0  # the ticket is still with the people
    harness.whaticket.set_ticket(ticket_id, status="closed")
    before = metric("atende_handoff_resumes_total", tenant="acme", resolution="ticket_closed")

    assert await watch(harness.deps) == 1

    assert await state(harness) == "bot"
    done = await handoff(harness)
    assert (done.status, done.resolution) == ("resolved", "ticket_closed")
    assert metric("atende_handoff_resumes_total", tenant="acme", resolution="ticket_closed") == (
        before + 1
    )
    harness.gemini.script(Reply.text("Oi de novo! Em que posso ajudar?"))
    await harness.run(await harness.ingest("voltei, outra dúvida"))
    assert HUMAN_WAS_HERE in harness.gemini.last_request.system_instruction
    assert harness.delivered()[-1] == "Oi de novo! Em que posso ajudar?"


async def test_a_person_answering_from_any_surface_pauses_the_bot(harness: Harness) -> None:
    await harness.apply_tenant(agent_password="bot-password", handoff_queue_id=PEOPLE_QUEUE)
    harness.gemini.script(Reply.text("Olá! Como posso ajudar?"))
    await harness.run(await harness.ingest("oi"))

    # The bot's own reply comes back as fromMe: its echo changes nothing.
    assert await business(harness, "Olá! Como posso ajudar?") == "echo"
    assert await state(harness) == "bot"
    # Someone at the phone answers: the bot goes quiet at once.
    before = metric("atende_human_messages_total", tenant="acme")
    assert await business(harness, "Oi Maria, aqui é a Joana, vou te ajudar") == "human"
    assert await state(harness) == "human"
    assert metric("atende_human_messages_total", tenant="acme") == before + 1
    paused = await handoff(harness)
    assert (paused.trigger, paused.status) == ("human", "transferred")  # nothing to move

    await harness.run(await harness.ingest("obrigada Joana!"))
    assert harness.gemini.request_count == 1
    # The agent gives it back explicitly.
    assert await business(harness, " #BOT ") == "resumed"
    assert await state(harness) == "bot"
    assert (await handoff(harness)).resolution == "command"


async def test_the_sla_alert_fires_once_when_nobody_answers(harness: Harness) -> None:
    await handed_over(harness)
    breaches = metric("atende_handoff_sla_breaches_total", tenant="acme")
    harness.deps.clock = later(10)
    await watch(harness.deps)
    assert metric("atende_handoff_sla_breaches_total", tenant="acme") == breaches
    assert metric("atende_handoffs_waiting", tenant="acme") == 1

    harness.deps.clock = later(16)
    with capture_logs() as logs:
        await watch(harness.deps)
        await watch(harness.deps)
    assert [e["sla_minutes"] for e in logs if e["event"] == "handoff.sla_breached"] == [15]
    assert metric("atende_handoff_sla_breaches_total", tenant="acme") == breaches + 1
    assert (await handoff(harness)).sla_breached_at is not None


async def test_the_sla_clock_starts_when_people_are_at_work(harness: Harness) -> None:
    today = datetime.now(UTC).date()
    closed = [str(today + timedelta(days=n)) for n in range(2)]  # today and tomorrow: holidays
    await handed_over(harness, businessHours={"timezone": "UTC", "holidays": closed})
    harness.deps.clock = later(60)
    breaches = metric("atende_handoff_sla_breaches_total", tenant="acme")
    await watch(harness.deps)
    assert metric("atende_handoff_sla_breaches_total", tenant="acme") == breaches
    assert await state(harness) == "human"  # nor does silence count while nobody works
    opening = datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    harness.deps.clock = lambda: opening + timedelta(minutes=16)
    await watch(harness.deps)
    assert metric("atende_handoff_sla_breaches_total", tenant="acme") == breaches + 1


async def test_a_person_taking_the_ticket_counts_and_silence_brings_the_bot_back(
    harness: Harness,
) -> None:
    ticket_id = await handed_over(
        harness, conversation={"debounceSeconds": 0, "resumeBotAfterHumanSilenceMinutes": 30}
    )
    harness.whaticket.set_ticket(ticket_id, status="open", userId=PERSON.id)
    breaches = metric("atende_handoff_sla_breaches_total", tenant="acme")
    await watch(harness.deps)
    seen = (await handoff(harness)).human_seen_at
    assert seen is not None
    harness.deps.clock = later(20)  # past the SLA, but a person answered
    await watch(harness.deps)
    assert metric("atende_handoff_sla_breaches_total", tenant="acme") == breaches
    assert await state(harness) == "human"

    harness.deps.clock = later(31)
    await watch(harness.deps)
    assert await state(harness) == "bot"
    assert (await handoff(harness)).resolution == "silence"


async def test_a_lost_transfer_job_is_enqueued_again(harness: Harness) -> None:
    await harness.apply_tenant(
        agent_password="bot-password",
        handoff_queue_id=PEOPLE_QUEUE,
        handoff={"keywords": ["atendente"]},
    )
    await harness.run(await harness.ingest("atendente"))
    await harness.redis.flushall()  # Redis lost the job
    harness.deps.clock = later(2)
    await watch(harness.deps)
    queued = await harness.redis.zrange("arq:queue", 0, -1)
    assert any(job.startswith(b"handoff:") for job in queued)


async def test_a_returning_customer_starts_a_new_session(harness: Harness) -> None:
    await harness.apply_tenant(conversation={"debounceSeconds": 0, "contextTtlMinutes": 1})
    harness.gemini.script(Reply.text("Olá!"), Reply.text("Bem-vinda de volta!"))
    await harness.run(await harness.ingest("oi"))
    async with transaction(harness.sessionmaker) as session:  # two minutes pass
        await session.execute(text("UPDATE turns SET answered_at = now() - interval '2 minutes'"))
        await session.execute(
            text("UPDATE inbound_messages SET received_at = now() - interval '2 minutes'")
        )
    await harness.redis.flushall()
    await harness.run(await harness.ingest("oi de novo"))
    assert NEW_SESSION in harness.gemini.last_request.system_instruction
    assert NEW_SESSION not in harness.gemini.requests[0].system_instruction
