"""The rate-limit wait notice goes out on the conversation's own channel, through the one path
out: a customer who wrote through the WhatsApp Cloud API hears "wait a moment" from the Graph
API (never from Whaticket, which does not know the conversation), and a notice that could not go
out is offered again to the next limited job instead of being lost."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.core.tenants.spec import META_CONNECTION
from tests.fixtures.turns import PHONE, Harness
from tests.standins.meta_graph import GraphStandIn

# spec.messages.wait's pt-BR default
WAIT_MESSAGE = "Recebi sua mensagem! Só um momento, já te respondo."
PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "meta-access-token-turns-0123456789"


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    with GraphStandIn(PHONE_NUMBER_ID, ACCESS_TOKEN) as server:
        yield server


def _notices() -> float:
    return REGISTRY.get_sample_value("atende_rate_limit_notices_total", {"tenant": "acme"}) or 0.0


async def _limited_cloud_api_tenant(
    make_harness: Callable[..., Harness], graph: GraphStandIn
) -> Harness:
    h = make_harness(rate_limit_notice_after_seconds=10)
    meta: dict[str, Any] = {
        "phoneNumberId": PHONE_NUMBER_ID,
        "graphUrl": graph.url,
        "verifyTokenSecretRef": {"name": "acme", "key": "meta-verify"},
        "appSecretSecretRef": {"name": "acme", "key": "meta-app-secret"},
        "accessTokenSecretRef": {"name": "acme", "key": "meta-token"},
    }
    await h.apply_tenant(
        meta=meta,
        rateLimits={"perContactPerMinute": 1, "perTenantPerMinute": 100},
        extra_secrets={
            "meta-verify": "verify-turns",
            "meta-app-secret": "meta-app-secret-turns",
            "meta-token": ACCESS_TOKEN,
        },
    )
    return h


async def test_a_cloud_api_customer_over_the_limit_hears_the_wait_notice_from_graph(
    make_harness: Callable[..., Harness], graph: GraphStandIn
) -> None:
    h = await _limited_cloud_api_tenant(make_harness, graph)
    await h.run(await h.ingest("Primeira pergunta", connection=META_CONNECTION))
    assert [m["to"] for m in graph.sent] == [PHONE]  # the answer went through the Graph API
    before = _notices()

    later = await h.attempt(await h.ingest("Segunda pergunta", connection=META_CONNECTION))
    assert later is not None, "the second turn within a minute waits"
    assert [m["text"] for m in graph.sent[1:]] == [WAIT_MESSAGE]
    assert graph.sent[1]["to"] == PHONE
    assert h.whaticket.sent() == []  # Whaticket never hears of this conversation
    assert _notices() == before + 1


async def test_a_notice_the_graph_api_refused_is_offered_again_to_the_next_limited_job(
    make_harness: Callable[..., Harness], graph: GraphStandIn
) -> None:
    h = await _limited_cloud_api_tenant(make_harness, graph)
    await h.run(await h.ingest("Primeira pergunta", connection=META_CONNECTION))
    graph.down = True  # Graph answers 500 code 131000
    second = await h.ingest("Segunda pergunta", connection=META_CONNECTION)
    assert await h.attempt(second) is not None
    assert len(graph.sent) == 1  # nothing was delivered...
    graph.down = False
    assert await h.attempt(second) is not None  # ...so the next limited job tries again
    assert [m["text"] for m in graph.sent[1:]] == [WAIT_MESSAGE]
