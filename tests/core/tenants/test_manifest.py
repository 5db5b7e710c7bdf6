"""Tenant files: the multi-document YAML `atende tenants apply -f` reads, and the errors it gives.

Every refusal must name the field at fault, so an operator can fix a file without reading code.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.core.errors import ManifestError
from services.core.tenants.manifest import SecretStore, load_manifests
from services.core.tenants.service import resolve_credentials
from services.core.tenants.spec import Variant

EXAMPLES = Path(__file__).resolve().parents[3] / "k8s" / "examples"
WEBHOOK_SECRET = "a-webhook-secret-of-32-characters"

SECRET_DOC = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: shop, labels: {{atende.dev/tenant: shop}}}}
stringData:
  whaticket-token: tok-123
  webhook-secret: {WEBHOOK_SECRET}
"""

TENANT_DOC = """\
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {name: shop}
spec:
  displayName: Shop
  whaticket:
    url: https://whaticket.shop.example
    variant: saas
    connections:
      - name: main
        apiTokenSecretRef: {name: shop, key: whaticket-token}
  webhook:
    secretRefs: [{name: shop, key: webhook-secret}]
  persona:
    systemPrompt: Você é a assistente da Shop.
"""


def tenant_file(tenant: str = TENANT_DOC, secret: str = SECRET_DOC) -> str:
    return f"{secret}---\n{tenant}"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load_manifests(text)
    return info.value.problems


def credential_problems(text: str) -> list[str]:
    (manifest,), secrets = load_manifests(text)
    with pytest.raises(ManifestError) as info:
        resolve_credentials(manifest.name, manifest.spec, secrets)
    return info.value.problems


def test_demo_example_loads() -> None:
    (demo,), secrets = load_manifests((EXAMPLES / "demo.yaml").read_text())
    assert demo.name == "demo"
    assert demo.spec.whaticket.url is None  # sandbox channel
    assert [c.name for c in demo.spec.whaticket.connections] == ["main"]
    assert demo.spec.conversation.debounce_seconds == 2
    assert len(demo.spec.knowledge.entries) == 4
    credentials, hashes = resolve_credentials(demo.name, demo.spec, secrets)
    assert credentials.whaticket_tokens == {}
    assert len(hashes) == 1


def test_acme_example_loads_with_every_secret_resolved() -> None:
    (acme,), secrets = load_manifests((EXAMPLES / "acme.yaml").read_text())
    spec = acme.spec
    assert spec.display_name == "ACME Telecom"
    assert spec.whaticket.variant is Variant.SAAS
    assert spec.whaticket.handoff_queue_id == 3
    assert spec.llm.monthly_token_budget == 5_000_000
    assert spec.business_hours.holidays[0].isoformat() == "2026-12-25"
    # the ConfigMap's entries follow the inline one
    assert [e.question for e in spec.knowledge.entries][1:] == [
        "Quais as formas de pagamento?",
        "Como pedir a segunda via da fatura?",
    ]
    credentials, _ = resolve_credentials(acme.name, spec, secrets)
    assert credentials.whaticket_tokens == {
        "main": "replace-with-the-connection-token-of-whaticket"
    }
    assert credentials.agent_password == "replace-with-the-bot-agent-password"
    assert credentials.gemini_api_key == "replace-with-a-gemini-api-key"


def test_broken_yaml_names_the_line() -> None:
    broken = tenant_file().replace("  displayName: Shop", "  displayName: [Shop")
    (problem,) = problems_of(broken)
    assert problem.startswith("not valid YAML at line ")
    line = int(problem.removeprefix("not valid YAML at line ").split(",")[0])
    # The unclosed flow sequence is detected on the displayName line or the next one.
    displayname_line = broken.splitlines().index("  displayName: [Shop") + 1
    assert line in (displayname_line, displayname_line + 1)


def test_typo_in_a_field_is_named() -> None:
    typo = tenant_file(TENANT_DOC.replace("systemPrompt:", "systemPromt:"))
    problems = problems_of(typo)
    assert any("spec.persona.systemPromt" in p and "BotTenant 'shop'" in p for p in problems)


def test_bad_variant_is_named() -> None:
    problems = problems_of(tenant_file(TENANT_DOC.replace("variant: saas", "variant: saass")))
    (problem,) = problems
    assert "spec.whaticket.variant" in problem
    assert "saas" in problem
    assert "community" in problem


def test_missing_secret_names_the_reference() -> None:
    text = tenant_file(
        TENANT_DOC.replace(
            "{name: shop, key: whaticket-token}", "{name: shop-prod, key: whaticket-token}"
        )
    )
    (problem,) = credential_problems(text)
    assert "spec.whaticket.connections[0].apiTokenSecretRef" in problem
    assert "'shop-prod' not found" in problem


def test_missing_secret_key_names_the_reference() -> None:
    text = tenant_file(TENANT_DOC.replace("key: whaticket-token", "key: whaticket-tokn"))
    (problem,) = credential_problems(text)
    assert "spec.whaticket.connections[0].apiTokenSecretRef" in problem
    assert "has no key 'whaticket-tokn'" in problem


def test_short_webhook_secret_is_refused() -> None:
    text = tenant_file(secret=SECRET_DOC.replace(WEBHOOK_SECRET, "short-secret-123"))
    (problem,) = credential_problems(text)
    assert "spec.webhook.secretRefs[0]" in problem
    assert "at least 24 characters" in problem


def test_a_24_character_webhook_secret_is_enough() -> None:
    text = tenant_file(secret=SECRET_DOC.replace(WEBHOOK_SECRET, "x" * 24))
    (manifest,), secrets = load_manifests(text)
    _, hashes = resolve_credentials(manifest.name, manifest.spec, secrets)
    assert len(hashes) == 1


def test_base64_data_secrets_are_decoded() -> None:
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    secret = (
        "apiVersion: v1\nkind: Secret\n"
        "metadata: {name: shop, labels: {atende.dev/tenant: shop}}\ndata:\n"
        f"  whaticket-token: {b64('tok-from-data')}\n"
        f"  webhook-secret: {b64(WEBHOOK_SECRET)}\n"
    )
    (manifest,), secrets = load_manifests(tenant_file(secret=secret))
    credentials, _ = resolve_credentials(manifest.name, manifest.spec, secrets)
    assert credentials.whaticket_tokens == {"main": "tok-from-data"}


def test_invalid_base64_is_reported() -> None:
    secret = SECRET_DOC.replace("stringData:", "data:").replace("tok-123", "not*base64!")
    problems = problems_of(tenant_file(secret=secret))
    assert problems == ["Secret 'shop'.data.whaticket-token: not valid base64 text"]


def test_other_kind_of_document_is_reported() -> None:
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n"
    (problem,) = problems_of(f"{tenant_file()}---\n{deployment}")
    assert "Deployment 'web'" in problem
    assert "apps/v1/Deployment" in problem


def test_file_without_a_tenant_is_reported() -> None:
    assert problems_of(SECRET_DOC) == ["no BotTenant document found"]


def test_bad_document_names_are_reported() -> None:
    (problem,) = problems_of(tenant_file(TENANT_DOC.replace("{name: shop}", "{name: Shop_1}")))
    assert problem.startswith("document 2: metadata.name")


def test_metadata_that_is_not_a_mapping_is_reported_not_a_crash() -> None:
    (problem,) = problems_of(
        tenant_file(TENANT_DOC.replace("metadata: {name: shop}", "metadata: shop"))
    )
    assert "document 2: metadata.name" in problem


def test_every_problem_is_reported_at_once() -> None:
    bad = (
        TENANT_DOC.replace("variant: saas", "variant: evolution")
        .replace("systemPrompt:", "systemPromt:")
        .replace("displayName: Shop", "displayName: ''")
    )
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
    problems = problems_of(f"{tenant_file(bad)}---\n{deployment}")
    joined = "\n".join(problems)
    for field in (
        "spec.whaticket.variant",
        "spec.persona.systemPromt",
        "spec.persona.systemPrompt",  # now missing
        "spec.displayName",
        "apps/v1/Deployment",
    ):
        assert field in joined, f"{field} not reported in:\n{joined}"


def test_every_missing_secret_is_reported_at_once() -> None:
    (manifest,), _ = load_manifests(tenant_file())
    with pytest.raises(ManifestError) as info:
        resolve_credentials(manifest.name, manifest.spec, SecretStore())
    joined = "\n".join(info.value.problems)
    assert "spec.whaticket.connections[0].apiTokenSecretRef" in joined
    assert "spec.webhook.secretRefs[0]" in joined


def test_whaticket_url_requires_a_token_per_connection() -> None:
    text = tenant_file(
        TENANT_DOC.replace("        apiTokenSecretRef: {name: shop, key: whaticket-token}\n", "")
    )
    with pytest.raises(ManifestError) as info:
        load_manifests(text)
    # The CRD's CEL rule says it, here as the API server would.
    assert info.value.problems == [
        "BotTenant 'shop': spec.whaticket: connections[].apiTokenSecretRef is required when "
        "url is set"
    ]
