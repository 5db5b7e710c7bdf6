"""A workflow acting through the real processes: its message reaches the customer through the
worker, once per request key, and its close closes the customer's Whaticket ticket."""

from __future__ import annotations

from typing import Any

from tests.fixtures.tenant_files import extended

from .conftest import CUSTOMER, TENANT, Stack, baileys_text, eventually, tenant_yaml

ACTION_KEY = "n8n-e2e-action-key-0123456789abcdef"
NOTICE = "Seu pedido 4711 saiu para entrega hoje."


async def test_a_workflow_messages_the_customer_and_closes_the_ticket(stack: Stack) -> None:
    path = stack.tmp / "tenant-actions.yaml"
    path.write_text(
        extended(
            tenant_yaml(stack.whaticket.url, handoff=True),
            {"action-key": ACTION_KEY},
            f"  actions: {{apiKeySecretRefs: [{{name: {TENANT}, key: action-key}}]}}\n",
        )
    )
    code, _, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
    assert (await stack.post(baileys_text("ACT-E2E-1", "oi"))).status_code == 200
    await stack.wait_sent(1, number=CUSTOMER)  # the bot's answer
    auth = {"Authorization": f"Bearer {ACTION_KEY}"}
    actions = f"/api/v1/actions/{TENANT}"

    async def accepted() -> dict[str, Any] | None:  # the api follows tenant changes live
        response = await stack.http.post(
            f"{actions}/messages",
            json={"phone": CUSTOMER, "text": NOTICE},
            headers=auth | {"Idempotency-Key": "order-4711"},
        )
        return dict(response.json()) if response.status_code in (200, 202) else None

    message = await eventually(accepted, within=10, what="the action key to be accepted")
    await stack.wait_sent(2, number=CUSTOMER)

    async def sent() -> dict[str, Any] | None:
        status = await stack.http.get(f"{actions}/messages/{message['id']}", headers=auth)
        return dict(status.json()) if status.json()["status"] == "sent" else None

    done = await eventually(sent, within=10, what="the message to be recorded sent")
    assert done["attempts"] == 1
    repeated = await accepted()  # n8n retrying its request
    assert repeated is not None
    assert repeated["id"] == message["id"]
    assert [s["text"] for s in stack.sent_to(CUSTOMER)].count(NOTICE) == 1

    closed = await stack.http.post(f"{actions}/close", json={"phone": CUSTOMER}, headers=auth)
    assert closed.json() == {"was_with_a_person": False, "ticket": "closing"}

    async def ticket_closed() -> bool:
        tickets = stack.whaticket.tickets()  # the one the customer's first message opened
        return bool(tickets) and all(t["status"] == "closed" for t in tickets)

    await eventually(ticket_closed, within=15, what="the ticket to be closed")
    assert ACTION_KEY not in stack.all_log_text()
