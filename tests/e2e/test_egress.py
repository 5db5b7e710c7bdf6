"""Tenant-chosen destinations through the real processes: a tenant cannot make the worker call
an address inside the platform (127.0.0.2 plays the internal service, the test Redis the
platform's own), ``tenants apply`` refuses what can never be reached naming the field, nothing
follows a redirect, and what a remote server answers never reaches a dead letter or a log."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from services.core.models import DeadLetter, EventDelivery
from tests.fixtures.egress import InternalService
from tests.fixtures.servers import free_port

from .conftest import TENANT, Stack, baileys_text, eventually, run_atende, tenant_yaml

SIGNING_SECRET = "whsec_" + base64.b64encode(b"e2e-egress-signing-key-0123456").decode()
INTERNAL_REPLY = b'{"error": "internal-detail-7f3a: redis at 10.0.0.5:6379"}'
# What `tenants apply` would have let through had the platform allowed all of loopback: the
# worker's own check must not trust the apply.
WIDE = '["127.0.0.0/8"]'


@pytest.fixture
def internal() -> Iterator[InternalService]:
    with InternalService("127.0.0.2", reply=(200, {}, INTERNAL_REPLY)) as service:
        yield service


def _with_subscription(yaml: str, url: str) -> str:
    return (
        yaml
        + f"""\
  events:
    subscriptions:
      - name: crm
        url: {url}
        events: [message.received, turn.answered]
        secretRef: {{name: crm, key: signing}}
---
apiVersion: v1
kind: Secret
metadata: {{name: crm, labels: {{atende.dev/tenant: {TENANT}}}}}
stringData: {{signing: "{SIGNING_SECRET}"}}
"""
    )


async def _apply(stack: Stack, text: str, **env: str) -> tuple[int, str, str]:
    path = stack.tmp / "tenant-egress.yaml"
    path.write_text(text)
    return await run_atende(stack.env | env, "tenants", "apply", "-f", str(path))


async def _dead_letter(stack: Stack, within: float = 25.0) -> DeadLetter:
    async def found() -> list[DeadLetter]:
        return await stack.rows(DeadLetter)

    [letter] = await eventually(found, within=within, what="a dead letter")
    return letter


async def test_apply_refuses_a_destination_that_can_never_be_reached_naming_the_field(
    stack: Stack, internal: InternalService
) -> None:
    cases = {
        "spec.whaticket.url": tenant_yaml(internal.url),
        "spec.events.subscriptions[0].url": _with_subscription(
            tenant_yaml(stack.whaticket.url), "http://169.254.169.254/latest/meta-data"
        ),
    }
    for field, text in cases.items():
        code, out, err = await _apply(stack, text)
        assert code != 0, out
        assert field in err, err
    # A `#` once let the tenant choose the whole path after the host.
    code, _, err = await _apply(stack, tenant_yaml(stack.whaticket.url + "/internal/admin#"))
    assert code != 0
    assert "spec.whaticket.url" in err, err
    assert "fragment" in err, err
    code, _, err = await _apply(stack, tenant_yaml("http://bot:pw@" + stack.whaticket.url[7:]))
    assert code != 0
    assert "spec.whaticket.url" in err, err
    assert "user or password" in err, err
    assert internal.seen == []


async def test_the_worker_never_calls_an_internal_address_whatever_was_applied(
    stack: Stack, internal: InternalService
) -> None:
    text = _with_subscription(tenant_yaml(internal.url), internal.url + "/hook")
    code, _, err = await _apply(stack, text, ATENDE_EGRESS_ALLOWED_NETWORKS=WIDE)
    assert code == 0, err
    await _reloaded(stack)

    await stack.post(baileys_text("EGRESS-1", "Qual o horário?"))
    letter = await _dead_letter(stack)
    assert (letter.stage, letter.error_class) == ("send", "egress_refused")
    assert "127.0.0.2" not in letter.error

    async def attempted() -> list[EventDelivery]:
        rows = await stack.rows(EventDelivery)
        return rows if rows and all(r.attempts >= 1 for r in rows) else []

    for delivery in await eventually(attempted, within=20, what="the events' first attempts"):
        assert (delivery.last_status, delivery.last_error) == (None, "egress_refused")
    assert internal.seen == []
    assert stack.sent_to("5511999990001") == []


async def test_the_platforms_own_redis_is_refused_inside_the_allowed_network(
    stack: Stack, redis_url: str
) -> None:
    port = urlsplit(redis_url).port
    code, _, err = await _apply(stack, tenant_yaml(f"http://127.0.0.1:{port}"))
    assert code == 0, err  # 127.0.0.1 is the stand-ins' network
    await _reloaded(stack)

    await stack.post(baileys_text("EGRESS-2", "Oi"))
    letter = await _dead_letter(stack)
    assert letter.error_class == "egress_refused"


async def test_no_redirect_is_followed_and_no_remote_answer_is_kept(
    stack: Stack, internal: InternalService
) -> None:
    redirect = (307, {"Location": internal.url + "/api/messages/send"}, b"")
    with InternalService("127.0.0.1", reply=redirect) as redirecting:
        code, _, err = await _apply(stack, tenant_yaml(redirecting.url))
        assert code == 0, err
        await _reloaded(stack)
        await stack.post(baileys_text("EGRESS-3", "Oi"))
        letter = await _dead_letter(stack)
        [(method, path, _, _)] = redirecting.seen
    assert (method, path) == ("POST", "/api/messages/send")
    assert letter.error_class == "whaticket_unexpected_status"
    assert internal.seen == []

    chatty = (400, {"Content-Type": "application/json"}, INTERNAL_REPLY)
    with InternalService("127.0.0.1", reply=chatty) as rejecting:
        code, _, err = await _apply(stack, tenant_yaml(rejecting.url))
        assert code == 0, err
        await _reloaded(stack)
        await stack.post(baileys_text("EGRESS-4", "Oi de novo"))

        async def second() -> list[DeadLetter]:
            rows = await stack.rows(DeadLetter)
            return rows if len(rows) >= 2 else []

        letters = await eventually(second, within=25, what="a second dead letter")
    stored = json.dumps([(d.error_class, d.error, d.context) for d in letters], default=str)
    assert letters[-1].error_class == "whaticket_rejected"
    assert "internal-detail-7f3a" not in stored
    assert "internal-detail-7f3a" not in stack.all_log_text()


async def _reloaded(stack: Stack) -> None:
    """The api and worker follow tenant changes within moments (cache 0.2 s in the stack)."""
    await asyncio.sleep(1.0)


async def test_a_fallback_sms_gateway_inside_the_platform_is_never_called(
    stack: Stack, internal: InternalService
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # Whaticket refuses: the reply falls back
    sms = f"""\
  features: {{fallbackChannels: true}}
  fallback:
    channels: [sms]
    sms:
      url: {internal.url}
      accountSid: AC0000000000000000000000000000e2e1
      authTokenSecretRef: {{name: sms, key: token}}
      fromNumber: "+5511400000000"
---
apiVersion: v1
kind: Secret
metadata: {{name: sms, labels: {{atende.dev/tenant: {TENANT}}}}}
stringData: {{token: sms-token-e2e-0123456789}}
"""
    code, _, err = await _apply(stack, tenant_yaml(closed) + sms)
    assert code != 0
    assert "spec.fallback.sms.url" in err, err
    code, _, err = await _apply(
        stack, tenant_yaml(closed) + sms, ATENDE_EGRESS_ALLOWED_NETWORKS=WIDE
    )
    assert code == 0, err
    await _reloaded(stack)

    await stack.post(baileys_text("EGRESS-5", "Oi"))
    letter = await _dead_letter(stack, within=60)
    assert letter.error_class == "egress_refused"
    assert internal.seen == []
