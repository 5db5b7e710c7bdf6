"""Workflow events: what happens in a conversation reaches the tenant's automations (n8n, a CRM)
as Standard Webhooks — signed, retried with backoff, and switched off when the endpoint keeps
failing — and nothing is sent before the transaction that made it true commits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select
from standardwebhooks import Webhook

from services.core import events
from services.core.config import Settings
from services.core.errors import ManifestError
from services.core.events import DeliveryOutcome
from services.core.models import EventDelivery
from tests.fixtures.turns import FALLBACK, Harness
from tests.standins.gemini import Reply
from tests.standins.receiver import ReceiverStandIn

SIGNING_SECRET = "whsec_" + base64.b64encode(b"n8n-signing-key-0123456789abcdef").decode()
ALL_EVENTS = ["message.received", "turn.answered", "handoff.requested", "dlq.added"]


@pytest.fixture
def receiver() -> Iterator[ReceiverStandIn]:
    with ReceiverStandIn() as standin:
        yield standin


async def subscribe(
    harness: Harness, receiver: ReceiverStandIn, wanted: list[str], **overrides: Any
) -> None:
    subscription = {
        "name": "n8n",
        "url": f"{receiver.url}/webhook/atende",
        "events": wanted,
        "secretRef": {"name": "acme", "key": "n8n-signing"},
    }
    await harness.apply_tenant(
        extra_secrets={"n8n-signing": SIGNING_SECRET},
        events={"subscriptions": [subscription]},
        **overrides,
    )


def settings(harness: Harness, **changes: Any) -> Settings:
    return harness.deps.settings.model_copy(update=changes)


async def deliver_due(harness: Harness, config: Settings | None = None) -> list[DeliveryOutcome]:
    """What the workers' dispatcher and delivery jobs do, once."""
    outcomes = []
    for delivery_id in await events.due_deliveries(harness.sessionmaker):
        outcome = await events.deliver(
            harness.sessionmaker,
            harness.deps.tenants,
            harness.deps.egress,
            config or harness.deps.settings,
            delivery_id,
        )
        assert outcome is not None
        outcomes.append(outcome)
    return outcomes


async def deliveries(harness: Harness) -> list[EventDelivery]:
    async with harness.sessionmaker() as session:
        return list(await session.scalars(select(EventDelivery).order_by(EventDelivery.id)))


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_answer_reaches_the_workflow_signed(
    harness: Harness, receiver: ReceiverStandIn
) -> None:
    await subscribe(harness, receiver, ALL_EVENTS)
    await harness.run(await harness.ingest("Qual o horário de atendimento?"))
    [answer] = harness.delivered()

    assert [o.status for o in await deliver_due(harness)] == ["delivered"]
    [request] = receiver.received
    assert request.path == "/webhook/atende"
    # The receiver's side: the reference library verifies it with the shared secret.
    payload = Webhook(SIGNING_SECRET).verify(request.body, request.headers)
    assert payload["type"] == "turn.answered"
    assert payload["data"]["tenant"] == "acme"
    assert payload["data"]["reply"] == answer
    assert payload["data"]["kind"] == "reply"
    assert payload["data"]["messages"] == [
        {"kind": "text", "text": "Qual o horário de atendimento?"}
    ]
    [row] = await deliveries(harness)
    assert request.headers["webhook-id"] == row.message_id
    assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 200)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(
            request.body, request.headers
        )
    assert await deliver_due(harness) == []  # delivered once, never again


async def test_failures_retry_with_backoff_then_switch_the_subscription_off(
    harness: Harness, receiver: ReceiverStandIn
) -> None:
    await subscribe(harness, receiver, ["turn.answered"])
    receiver.default_status = 500
    quick = settings(harness, events_retry_seconds=[0, 0], events_disable_after_failures=3)
    before = metric("atende_event_subscriptions_disabled_total", tenant="acme")
    await harness.run(await harness.ingest("primeira"))

    outcomes = [await deliver_due(harness, quick) for _ in range(3)]
    assert [[o.status for o in round_] for round_ in outcomes] == [["retry"], ["retry"], ["failed"]]
    assert outcomes[-1][0].disabled
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert len(receiver.received) == 3
    assert len(ids) == 1  # one event, the same id on every try: receivers deduplicate on it
    assert metric("atende_event_subscriptions_disabled_total", tenant="acme") == before + 1
    assert (
        metric(
            "atende_event_deliveries_total", tenant="acme", event="turn.answered", outcome="failed"
        )
        >= 1
    )

    # Switched off: what happens meanwhile is not queued for it.
    await harness.run(await harness.ingest("segunda", phone="5511977776666"))
    assert len(await deliveries(harness)) == 1

    # Switched back on (`atende events enable`): new events flow again.
    assert harness.tenant is not None
    assert await events.enable_subscription(harness.sessionmaker, harness.tenant.id, "n8n")
    receiver.default_status = 204
    await harness.run(await harness.ingest("terceira", phone="5511955554444"))
    assert [o.status for o in await deliver_due(harness, quick)] == ["delivered"]


async def test_a_slow_retry_waits_its_turn(harness: Harness, receiver: ReceiverStandIn) -> None:
    await subscribe(harness, receiver, ["turn.answered"])
    receiver.respond(503)
    await harness.run(await harness.ingest("oi"))
    assert [o.status for o in await deliver_due(harness)] == ["retry"]
    assert await deliver_due(harness) == []  # the first retry waits 5 s (the default schedule)
    [row] = await deliveries(harness)
    assert (row.status, row.attempts, row.last_status) == ("pending", 1, 503)


async def test_dead_letters_and_handoffs_are_events_too(
    harness: Harness, receiver: ReceiverStandIn
) -> None:
    await subscribe(harness, receiver, ["dlq.added", "handoff.requested"])
    harness.gemini.script(Reply.bad_key())
    await harness.run(await harness.ingest("minha fatura veio errada"))
    assert harness.delivered() == [FALLBACK]
    await deliver_due(harness)
    kinds = sorted(r.json["type"] for r in receiver.received)
    assert "dlq.added" in kinds
    [letter_event] = [r.json for r in receiver.received if r.json["type"] == "dlq.added"]
    assert letter_event["data"]["stage"] == "llm"
    assert "turn.answered" not in kinds  # not subscribed


async def test_a_signing_secret_that_is_not_one_is_refused_by_name(harness: Harness) -> None:
    subscription = {
        "name": "crm",
        "url": "https://crm.example/hooks/atende",
        "events": ["turn.answered"],
        "secretRef": {"name": "acme", "key": "crm-signing"},
    }
    with pytest.raises(ManifestError) as refused:
        await harness.apply_tenant(
            extra_secrets={"crm-signing": "hunter2-not-a-whsec"},
            events={"subscriptions": [subscription]},
        )
    message = str(refused.value)
    assert "spec.events.subscriptions[0].secretRef" in message
    assert "whsec_" in message
    assert "hunter2" not in message


async def test_an_event_for_a_removed_subscription_is_not_sent(
    harness: Harness, receiver: ReceiverStandIn
) -> None:
    await subscribe(harness, receiver, ["turn.answered"])
    await harness.run(await harness.ingest("oi"))
    await harness.apply_tenant()  # the automation was unsubscribed before the event went out
    assert [o.status for o in await deliver_due(harness)] == ["failed"]
    assert receiver.received == []
    [row] = await deliveries(harness)
    assert row.last_error == "subscription removed"
