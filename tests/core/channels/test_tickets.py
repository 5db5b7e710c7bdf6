"""The ticket API client against the Whaticket stand-in: short-lived JWTs, refresh, re-login."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from services.core.channels.whaticket.tickets import AgentLogin, TicketDesk
from services.core.errors import PermanentError
from tests.fixtures.egress import loopback_egress
from tests.standins.whaticket import WhaticketStandIn

NUMBER = "5511999998888"


@pytest.fixture
def whaticket() -> Iterator[WhaticketStandIn]:
    with WhaticketStandIn("community", ["api-token"], access_ttl=1) as server:
        yield server


@pytest_asyncio.fixture
async def desk() -> AsyncIterator[TicketDesk]:
    async with loopback_egress(2.0) as http:
        yield TicketDesk(http)


def login(whaticket: WhaticketStandIn, password: str = "bot-password") -> AgentLogin:
    return AgentLogin("t1", whaticket.url, "bot@example.com", password)


def paths(whaticket: WhaticketStandIn) -> list[str]:
    return [r["path"] for r in whaticket.requests()]


async def test_an_expired_token_is_refreshed_with_the_cookie(
    desk: TicketDesk, whaticket: WhaticketStandIn
) -> None:
    ticket = whaticket.add_ticket(NUMBER, queue_id=1)
    agent = login(whaticket)
    found = await desk.find_ticket(agent, NUMBER)
    assert found is not None
    assert found.id == ticket["id"]
    await asyncio.sleep(1.2)  # the 1-second JWT expires: Whaticket answers 403

    shown = await desk.show_ticket(agent, ticket["id"])

    assert shown is not None
    assert shown.status == "pending"
    assert paths(whaticket).count("/auth/login") == 1
    assert paths(whaticket).count("/auth/refresh_token") == 1


async def test_a_closed_ticket_is_not_the_customers_current_one(
    desk: TicketDesk, whaticket: WhaticketStandIn
) -> None:
    whaticket.add_ticket(NUMBER, status="closed", queue_id=1)
    assert await desk.find_ticket(login(whaticket), NUMBER) is None
    assert await desk.show_ticket(login(whaticket), 999) is None  # 404: gone


async def test_wrong_agent_credentials_are_permanent_and_secret_free(
    desk: TicketDesk, whaticket: WhaticketStandIn
) -> None:
    with pytest.raises(PermanentError) as caught:
        await desk.find_ticket(login(whaticket, "not-the-password"), NUMBER)
    assert caught.value.error_class == "whaticket_agent_login"
    assert "not-the-password" not in caught.value.message
