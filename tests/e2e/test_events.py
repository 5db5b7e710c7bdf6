"""Workflow events through the real processes: the api records message.received with the
message, the worker records turn.answered with the reply, and its dispatcher sends both,
signed, to the tenant's automation."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook

from tests.standins.receiver import ReceiverStandIn

from .conftest import CUSTOMER, TENANT, Stack, answer_for, baileys_text, eventually, tenant_yaml

SIGNING_SECRET = "whsec_" + base64.b64encode(b"e2e-workflow-signing-key-012345").decode()


@pytest.fixture
def receiver() -> Iterator[ReceiverStandIn]:
    with ReceiverStandIn() as standin:
        yield standin


async def test_a_message_and_its_answer_reach_the_workflow(
    stack: Stack, receiver: ReceiverStandIn
) -> None:
    path = stack.tmp / "tenant-events.yaml"
    path.write_text(
        tenant_yaml(stack.whaticket.url)
        + f"""\
  events:
    subscriptions:
      - name: n8n
        url: {receiver.url}/webhook/atende
        events: [message.received, turn.answered]
        secretRef: {{name: n8n, key: signing}}
---
apiVersion: v1
kind: Secret
metadata: {{name: n8n, labels: {{atende.dev/tenant: {TENANT}}}}}
stringData: {{signing: "{SIGNING_SECRET}"}}
"""
    )
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
    assert f"bottenant/{TENANT} updated" in out

    text = "Vocês entregam no sábado?"

    async def tenant_reloaded() -> bool:  # the api and worker follow tenant changes live
        response = await stack.post(baileys_text("EVT-1", text))
        return bool(response.json() == {"status": "accepted"})

    await eventually(tenant_reloaded, within=10, what="the webhook to accept the message")

    async def both() -> list[str] | None:
        types = sorted(r.json["type"] for r in receiver.received)
        return types if len(types) >= 2 else None

    types = await eventually(both, within=20, what="both events at the workflow")
    assert types == ["message.received", "turn.answered"]
    verifier = Webhook(SIGNING_SECRET)
    by_type = {r.json["type"]: verifier.verify(r.body, r.headers) for r in receiver.received}
    received = by_type["message.received"]["data"]
    assert (received["tenant"], received["phone"], received["text"]) == (TENANT, CUSTOMER, text)
    answered = by_type["turn.answered"]["data"]
    assert answered["reply"] == answer_for(text)
    assert answered["phone"] == CUSTOMER

    code, listing, err = await stack.run_cli("events", "list", TENANT)
    assert code == 0, err
    assert listing.count("delivered") == 2
    assert SIGNING_SECRET not in stack.all_log_text()
