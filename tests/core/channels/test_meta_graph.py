"""The Graph API client against a server speaking Meta's shapes: the wamid of a sent message,
and Graph errors classified the way a retry should treat them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from services.core.channels.meta_graph import CloudApiClient
from services.core.errors import PermanentError, TransientError
from services.core.tenants.spec import MetaSpec
from services.core.tenants.spec_model import SecretRef
from tests.fixtures.egress import loopback_egress
from tests.standins.meta_graph import GraphStandIn

NUMBER_ID, TOKEN = "106540352242922", "EAAG-token"


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    with GraphStandIn(NUMBER_ID, TOKEN) as server:
        yield server


@pytest_asyncio.fixture
async def client() -> AsyncIterator[CloudApiClient]:
    async with loopback_egress(2) as http:
        yield CloudApiClient(http)


def spec(url: str) -> MetaSpec:
    ref = SecretRef(name="acme", key="meta")
    return MetaSpec(
        phone_number_id=NUMBER_ID,
        graph_url=url,
        verify_token_secret_ref=ref,
        app_secret_secret_ref=ref,
        access_token_secret_ref=ref,
    )


async def test_a_reply_is_sent_and_its_wamid_kept(
    graph: GraphStandIn, client: CloudApiClient
) -> None:
    sent = await client.send_text(spec(graph.url), TOKEN, to="5511966665555", body="Olá!")
    [message] = graph.sent
    assert sent == {"wamid": message["id"]}
    assert (message["to"], message["text"]) == ("5511966665555", "Olá!")


async def test_graph_errors_are_classified(graph: GraphStandIn, client: CloudApiClient) -> None:
    config = spec(graph.url)
    with pytest.raises(PermanentError) as expired:
        await client.send_text(config, "EAAG-revoked", to="5511966665555", body="oi")
    assert expired.value.error_class == "meta_auth"
    assert "EAAG-revoked" not in expired.value.message
    graph.window_closed = True
    with pytest.raises(PermanentError) as window:
        await client.send_text(config, TOKEN, to="5511966665555", body="oi")
    assert window.value.error_class == "meta_window_closed"
    graph.window_closed, graph.down = False, True
    with pytest.raises(TransientError) as down:
        await client.send_text(config, TOKEN, to="5511966665555", body="oi")
    assert (down.value.error_class, down.value.ambiguous) == ("meta_5xx", True)
    assert graph.sent == []
