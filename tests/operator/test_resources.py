"""The pure builders: secret references with their field paths, conditions, generated Secret."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from atende_operator import resources
from atende_operator.resources import Phase, Reason, Ref

from .conftest import tenant_spec

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2026, 1, 2, 9, 0, 0, tzinfo=UTC)


def test_secret_refs_name_every_referenced_key_with_its_field_path() -> None:
    assert resources.secret_refs(tenant_spec(), "acme") == [
        Ref("spec.whaticket.connections[0].apiTokenSecretRef", "acme", "whaticket-token"),
        Ref("spec.whaticket.agent.passwordSecretRef", "acme", "agent-password"),
        Ref("spec.llm.apiKeySecretRef", "acme", "gemini-api-key"),
        Ref("spec.webhook.secretRefs[0]", "acme", "webhook-secret"),
    ]
    generated = resources.secret_refs(tenant_spec(webhook={"secretRefs": []}), "acme")
    assert generated[-1] == Ref("spec.webhook.secretRefs", "acme-webhook", "webhook-secret")
    assert resources.secret_refs({"whaticket": "not a mapping"}, "x") == [
        Ref("spec.webhook.secretRefs", "x-webhook", "webhook-secret")
    ]


def test_the_transition_time_moves_only_when_ready_flips() -> None:
    first = resources.tenant_status(
        phase=Phase.READY, reason=Reason.RECONCILED, message="ok", generation=1, now=T0
    )
    same = resources.tenant_status(
        phase=Phase.READY, reason=Reason.RECONCILED, message="again", generation=2,
        previous=first, now=T1,
    )  # fmt: skip
    flipped = resources.tenant_status(
        phase=Phase.ERROR, reason=Reason.INVALID_SPEC, message="bad", generation=3,
        previous=same, now=T1,
    )  # fmt: skip
    assert first["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert same["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert flipped["conditions"] == [
        {
            "type": "Ready",
            "status": "False",
            "reason": "InvalidSpec",
            "message": "bad",
            "lastTransitionTime": "2026-01-02T09:00:00Z",
            "observedGeneration": 3,  # metav1.Condition's: which spec the condition is about
        }
    ]
    assert (flipped["phase"], flipped["observedGeneration"]) == ("Error", 3)
    assert "webhookPath" not in flipped


def test_the_generated_webhook_secret_manifest() -> None:
    manifest = resources.webhook_secret_manifest("acme", "tenants-a", "s3cret-value")
    assert manifest["metadata"]["name"] == "acme-webhook"
    assert manifest["metadata"]["namespace"] == "tenants-a"
    assert base64.b64decode(manifest["data"]["webhook-secret"]).decode() == "s3cret-value"
    assert manifest["metadata"]["labels"]["atende.dev/tenant"] == "acme"  # opted in, watched
    assert resources.webhook_path("acme", "main") == "/hooks/whaticket/acme/main/<webhook-secret>"
