"""The Cloud API channel through the real processes: Meta posts a signed message, the worker
answers through the Graph API with the same turn pipeline, and Meta's delivery statuses land
on the reply."""

from __future__ import annotations

from services.core.models import InboundMessage, OutboundMessage
from tests.standins.meta_graph import (
    GraphStandIn,
    notification,
    signed,
    status_update,
    text_message,
)

from .conftest import TENANT, Stack, answer_for, eventually
from .meta_tenant import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, apply_meta_tenant, graph

__all__ = ["graph"]  # the fixture, shared with the other Cloud API tests

CUSTOMER = "5511966665555"


async def test_a_cloud_api_customer_is_answered_through_the_graph_api(
    stack: Stack, graph: GraphStandIn
) -> None:
    await apply_meta_tenant(stack, graph)
    text = "Vocês têm fibra no meu bairro?"
    body, headers = signed(APP_SECRET, notification(PHONE_NUMBER_ID, text_message(CUSTOMER, text)))

    async def accepted() -> bool:  # the api follows tenant changes live
        response = await stack.http.post(f"/hooks/meta/{TENANT}", content=body, headers=headers)
        return (
            response.status_code == 200
            and response.json()["accepted"] + response.json()["duplicates"] == 1
        )

    await eventually(accepted, within=10, what="the Cloud API webhook to be accepted")

    async def answered() -> list[dict[str, str]] | None:
        return graph.sent or None

    [reply] = await eventually(answered, within=20, what="the reply through the Graph API")
    assert (reply["to"], reply["text"]) == (CUSTOMER, answer_for(text))
    assert stack.whaticket.sent() == []  # the Meta conversation never goes to Whaticket
    [message] = await stack.rows(InboundMessage)
    assert message.text == text

    for status in ("delivered", "read"):
        update = notification(PHONE_NUMBER_ID, status_update(reply["id"], status, CUSTOMER))
        status_body, status_headers = signed(APP_SECRET, update)
        response = await stack.http.post(
            f"/hooks/meta/{TENANT}", content=status_body, headers=status_headers
        )
        assert response.json()["statuses"] == 1

    [outbound] = await stack.rows(OutboundMessage)
    assert (outbound.channel, outbound.provider_message_id, outbound.delivery_status) == (
        "meta",
        reply["id"],
        "read",
    )
    assert APP_SECRET not in stack.all_log_text()
    assert ACCESS_TOKEN not in stack.all_log_text()
