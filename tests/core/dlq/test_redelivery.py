"""Replies given up while their Whaticket connection was down wait as dead letters, nobody is
handed a conversation they could not answer, and once the connection shows it is back the
waiting replies go out one at a time, oldest first, and the stale ones stay dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select, update

from services.core.db import transaction
from services.core.dlq import redelivery
from services.core.dlq.redelivery import redeliver
from services.core.dlq.service import replay
from services.core.models import DeadLetter, Handoff, OutboundMessage
from tests.fixtures.turns import PHONE, Harness
from tests.standins.gemini import Reply

OTHER = "5511977776666"
THIRD = "5511955554444"
PACE = 60  # spec.delivery.replayPerMinute in these tests: one a second


@pytest.fixture
async def down(make_harness: Callable[..., Harness]) -> Harness:
    """A tenant whose tickets can be moved (so a handoff would be made if it were allowed), no
    breaker in the way (its threshold out of reach), and its WhatsApp session down."""
    harness = make_harness(breaker_failure_threshold=1000)
    await harness.apply_tenant(agent_password="bot-password", delivery={"replayPerMinute": PACE})
    harness.whaticket.set_mode(session_down=True)
    return harness


async def _dead(harness: Harness, text: str, phone: str = PHONE, connection: str = "main") -> int:
    """A customer's question whose answer cannot be delivered: its dead letter's id."""
    harness.gemini.script(Reply.text(f"resposta: {text}"))
    await harness.run(await harness.ingest(text, phone=phone, connection=connection))
    return (await harness.dead_letters())[-1].id


async def _handoffs(harness: Harness) -> list[Handoff]:
    async with harness.sessionmaker() as session:
        return list(await session.scalars(select(Handoff)))


async def _letter(harness: Harness, letter_id: int) -> DeadLetter:
    async with harness.sessionmaker() as session:
        letter = await session.get(DeadLetter, letter_id)
    assert letter is not None
    return letter


async def _back(harness: Harness) -> None:
    """The session is live again and a customer's message comes through it (its webhook)."""
    harness.whaticket.set_mode(session_down=False)
    harness.gemini.script(Reply.text("oi, tudo bem?"))
    await harness.run(await harness.ingest("oi", phone=THIRD))


async def _replay_pass(harness: Harness) -> list[int]:
    """One redelivery pass, and the replayed turns' jobs run as a worker would: the ids of the
    letters it replayed."""
    done = await redeliver(harness.deps)
    for item in done.replays:
        await harness.run(item.inbound_id)
    return [r.dead_letter_id for r in done.replays]


async def test_a_reply_given_up_while_the_session_is_down_waits_and_nobody_is_handed_it(
    down: Harness,
) -> None:
    letter_id = await _dead(down, "quando vence meu boleto?")

    letter = await _letter(down, letter_id)
    assert (letter.stage, letter.error_class, letter.status) == (
        "send",
        "whaticket_session_down",
        "open",
    )
    assert letter.context["reply"] == "resposta: quando vence meu boleto?"
    # An agent in the Whaticket ticket could not answer through a dead session either.
    assert await _handoffs(down) == []
    # Nothing came through the connection since: the reply keeps waiting, however often we look.
    for _ in range(3):
        assert await _replay_pass(down) == []
    assert down.whaticket.sent() == []
    assert (await _letter(down, letter_id)).status == "open"


async def test_a_failure_an_agent_can_still_answer_hands_the_conversation_over(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(breaker_failure_threshold=1000)
    await harness.apply_tenant(agent_password="bot-password")
    harness.whaticket.set_mode(fail=401)  # our API token refused: Whaticket itself is up

    letter_id = await _dead(harness, "quando vence meu boleto?")

    assert (await _letter(harness, letter_id)).error_class == "whaticket_auth"
    assert [h.trigger for h in await _handoffs(harness)] == ["failure"]
    assert await _replay_pass(harness) == []  # not a connection outage: an operator decides


async def test_the_session_back_sends_the_waiting_replies_in_order_one_at_a_time(
    down: Harness,
) -> None:
    first = await _dead(down, "primeira pergunta")
    second = await _dead(down, "segunda pergunta", phone=OTHER)

    await _back(down)

    assert await _replay_pass(down) == [first]
    # The next one waits for the pace (one a second here), however often we look meanwhile.
    assert await _replay_pass(down) == []
    await asyncio.sleep(60 / PACE)
    assert await _replay_pass(down) == [second]
    await asyncio.sleep(60 / PACE)
    assert await _replay_pass(down) == []

    assert down.delivered() == [
        "oi, tudo bem?",
        "resposta: primeira pergunta",
        "resposta: segunda pergunta",
    ]
    assert down.gemini.request_count == 3  # the stored replies, never generated again
    letters = [await _letter(down, i) for i in (first, second)]
    assert [(d.status, d.context["replayed_by"]) for d in letters] == [
        ("replayed", "redelivery"),
        ("replayed", "redelivery"),
    ]
    assert {o.status for o in await down.outbound()} == {"sent"}
    assert await _handoffs(down) == []


async def test_a_replay_in_flight_holds_the_next_one_back(down: Harness) -> None:
    first = await _dead(down, "primeira pergunta")
    await _dead(down, "segunda pergunta", phone=OTHER)
    await _back(down)

    done = await redeliver(down.deps)  # its job not run yet: the reply is on its way
    assert [r.dead_letter_id for r in done.replays] == [first]
    await asyncio.sleep(60 / PACE)
    assert (await redeliver(down.deps)).replays == []

    await down.run(done.replays[0].inbound_id)
    await asyncio.sleep(60 / PACE)
    assert len((await redeliver(down.deps)).replays) == 1


async def test_a_replay_that_fails_again_waits_for_the_next_sign_of_life(down: Harness) -> None:
    first = await _dead(down, "primeira pergunta")
    await _back(down)
    down.whaticket.set_mode(session_down=True)  # gone again before the replay went out

    assert await _replay_pass(down) == [first]

    letters = await down.dead_letters()
    assert [(d.status, d.error_class) for d in letters] == [
        ("replayed", "whaticket_session_down"),
        ("open", "whaticket_session_down"),
    ]
    await asyncio.sleep(60 / PACE)
    assert await _replay_pass(down) == []  # nothing came through since the new failure
    assert down.delivered() == ["oi, tudo bem?"]
    assert await _handoffs(down) == []


def _redeliveries(outcome: str) -> float:
    labels = {"tenant": "acme", "outcome": outcome}
    return REGISTRY.get_sample_value("atende_redeliveries_total", labels) or 0.0


async def _age(harness: Harness, letter_id: int, minutes: int) -> None:
    """The reply was written ``minutes`` ago."""
    letter = await _letter(harness, letter_id)
    async with transaction(harness.sessionmaker) as session:
        await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.turn_id == letter.turn_id)
            .values(created_at=OutboundMessage.created_at - timedelta(minutes=minutes))
        )


async def test_replies_older_than_the_tenant_s_limit_stay_dead_letters_as_stale(
    down: Harness,
) -> None:
    old = await _dead(down, "pergunta antiga")
    fresh = await _dead(down, "pergunta recente", phone=OTHER)
    await _age(down, old, 61)  # the default spec.delivery.maxReplayAgeMinutes is 60
    counted = {o: _redeliveries(o) for o in ("stale", "replayed")}

    await _back(down)

    assert await _replay_pass(down) == [fresh]
    assert {o: _redeliveries(o) - n for o, n in counted.items()} == {"stale": 1, "replayed": 1}
    stale = await _letter(down, old)
    assert (stale.status, stale.error_class) == ("open", "stale")
    assert stale.context["waited_for"] == "whaticket_session_down"
    assert "older than 60 minutes" in stale.error
    # It was not sent out of context; a person follows the conversation up instead, now that
    # one can answer through the connection.
    assert "resposta: pergunta antiga" not in down.delivered()
    [handoff] = await _handoffs(down)
    assert (handoff.trigger, handoff.conversation_id) == (
        "failure",
        stale.context["conversation_id"],
    )

    # Stale is final for redelivery: it is never picked up again; an operator may still replay.
    await asyncio.sleep(60 / PACE)
    assert await _replay_pass(down) == []
    async with transaction(down.sessionmaker) as session:
        await replay(session, old)


async def test_a_reply_overtaken_by_the_customer_s_next_message_is_stale(down: Harness) -> None:
    old = await _dead(down, "pergunta antiga")
    down.whaticket.set_mode(session_down=False)
    down.gemini.script(Reply.text("resposta nova"))
    await down.run(await down.ingest("e aí?"))  # the same customer writes again: answered

    assert await _replay_pass(down) == []
    stale = await _letter(down, old)
    assert (stale.status, stale.error_class) == ("open", "stale")
    assert "the customer wrote again" in stale.error
    assert down.delivered() == ["resposta nova"]
    assert await _handoffs(down) == []  # the newer turn answers the conversation


async def test_a_tenant_s_own_limit_decides_what_is_stale(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(breaker_failure_threshold=1000)
    await harness.apply_tenant(delivery={"maxReplayAgeMinutes": 5})
    harness.whaticket.set_mode(session_down=True)
    old = await _dead(harness, "pergunta")
    await _age(harness, old, 6)

    await _back(harness)

    assert await _replay_pass(harness) == []
    assert (await _letter(harness, old)).error_class == "stale"
    assert await _handoffs(harness) == []  # no agent user: nobody to hand it to


async def test_an_open_breaker_holds_the_replay_until_it_lets_a_call_through(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness(breaker_open_seconds=30)
    await harness.apply_tenant(delivery={"replayPerMinute": PACE})
    harness.whaticket.set_mode(session_down=True)
    letter_id = await _dead(harness, "pergunta")  # three failures: the breaker opened
    harness.whaticket.set_mode(session_down=False)
    await harness.ingest("oi", phone=THIRD)  # a webhook from the connection

    assert (await redeliver(harness.deps)).replays == []
    await harness.deps.redis.delete("breaker:{whaticket:acme:main}:open")  # its period ends

    assert await _replay_pass(harness) == [letter_id]
    assert "resposta: pergunta" in harness.delivered()


async def test_one_connection_s_backlog_never_hides_another_s(
    make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redelivery, "PER_CONNECTION", 2)
    harness = make_harness(breaker_failure_threshold=1000)
    token = {"name": "acme", "key": "whaticket-token"}
    connections = [{"name": n, "apiTokenSecretRef": token} for n in ("main", "second")]
    whaticket = {"url": harness.whaticket.url, "variant": harness.whaticket.variant}
    await harness.apply_tenant(whaticket={**whaticket, "connections": connections})
    harness.whaticket.set_mode(session_down=True)
    for i in range(3):  # older than the other connection's, and more than a pass looks at
        await _dead(harness, f"pergunta {i}", phone=f"55119444400{i:02d}")
    other = await _dead(harness, "pergunta na outra", phone=OTHER, connection="second")

    harness.whaticket.set_mode(session_down=False)
    harness.gemini.script(Reply.text("oi, tudo bem?"))
    await harness.run(await harness.ingest("oi", phone=THIRD, connection="second"))

    assert await _replay_pass(harness) == [other]  # "main" showed no sign of life
    assert "resposta: pergunta na outra" in harness.delivered()
