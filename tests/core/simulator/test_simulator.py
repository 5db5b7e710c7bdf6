"""The panel's simulator runs the real turn pipeline, and its replies never reach Whaticket."""

from __future__ import annotations

from services.core.db import transaction
from services.core.simulator.service import send_as_customer, simulator_phone, transcript
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply


async def test_a_simulated_customer_is_answered_in_the_sandbox(harness: Harness) -> None:
    assert harness.tenant is not None
    harness.gemini.script(Reply.text("Aceitamos Pix, boleto e cartão."))
    async with transaction(harness.sessionmaker) as session:
        inbound_id = await send_as_customer(
            session,
            tenant_id=harness.tenant.id,
            user_id=7,
            text="  Quais as formas de pagamento?  ",
            correlation_id="sim-corr-1",
        )
    await harness.run(inbound_id)

    assert harness.whaticket.sent() == []  # the tenant's real Whaticket got nothing
    [outbound] = await harness.outbound()
    assert (outbound.channel, outbound.status) == ("sandbox", "sent")
    async with harness.sessionmaker() as session:
        lines = await transcript(session, tenant_id=harness.tenant.id, user_id=7)
        other_user = await transcript(session, tenant_id=harness.tenant.id, user_id=8)
    assert [(line.role, line.text) for line in lines] == [
        ("customer", "Quais as formas de pagamento?"),
        ("bot", "Aceitamos Pix, boleto e cartão."),
    ]
    assert other_user == []  # each panel user has their own simulated customer
    assert simulator_phone(7).startswith("5500")
