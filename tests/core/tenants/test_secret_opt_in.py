"""A tenant uses only the Secrets and ConfigMaps labelled ``atende.dev/tenant: <its name>``.

The hole: a BotTenant could name any Secret of its file or namespace — the platform's own
(``ATENDE_SECRET_KEY``) or another tenant's — and its value became the tenant's Whaticket token,
which the worker sends as ``Authorization: Bearer`` to the URL the tenant chose
(``outbound/delivery.py`` reads ``credentials.whaticket_tokens``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.core.channels.whaticket.client import WhaticketClient
from services.core.db import SessionMaker, transaction
from services.core.errors import ManifestError
from services.core.models import Tenant
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.directory import TenantDirectory
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import apply_tenant, resolve_credentials
from services.core.tenants.spec import Variant
from tests.fixtures.egress import loopback_egress
from tests.standins.whaticket import WhaticketStandIn

EXAMPLES = Path(__file__).resolve().parents[3] / "k8s" / "examples"
CIPHER = CredentialCipher("platform-secret-key-for-opt-in-tests")
PLATFORM_KEY = "the-platform-s-own-secret-key-0123456789"
GLOBEX_GEMINI = "AIzaSy-globex-own-gemini-key-0123456789"

PLATFORM_SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: atende-secrets}}
stringData: {{ATENDE_SECRET_KEY: {PLATFORM_KEY}}}
"""
GLOBEX_SECRET = f"""\
apiVersion: v1
kind: Secret
metadata: {{name: globex, labels: {{atende.dev/tenant: globex}}}}
stringData: {{gemini-api-key: {GLOBEX_GEMINI}}}
"""
ACME_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: acme, labels: {atende.dev/tenant: acme}}
stringData: {webhook-secret: acme-webhook-secret-0123456789abc, token: acme-own-token}
"""
ACME = """\
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: acme}}
spec:
  displayName: ACME
  whaticket:
    url: https://whaticket.acme.example
    variant: saas
    connections: [{{name: main, apiTokenSecretRef: {{name: {token_secret}, key: {token_key}}}}}]
  webhook: {{secretRefs: [{{name: acme, key: webhook-secret}}]}}
  llm: {{apiKeySecretRef: {{name: {llm_secret}, key: gemini-api-key}}}}
  persona: {{systemPrompt: Você atende a ACME.}}
"""


def acme(token_secret: str, token_key: str, llm_secret: str = "acme") -> str:
    return ACME.format(token_secret=token_secret, token_key=token_key, llm_secret=llm_secret)


async def apply_file(sessionmaker: SessionMaker, text: str) -> None:
    (manifest,), secrets = load_manifests(text)
    async with transaction(sessionmaker) as session:
        await apply_tenant(session, manifest, secrets, CIPHER)


async def test_the_platform_s_and_another_tenant_s_secrets_are_refused_by_name(
    clean_db: SessionMaker,
) -> None:
    docs = [PLATFORM_SECRET, GLOBEX_SECRET, ACME_SECRET.replace("token: ", "gemini-api-key: ")]
    text = "---\n".join([*docs, acme("atende-secrets", "ATENDE_SECRET_KEY", "globex")])
    with pytest.raises(ManifestError) as info:
        await apply_file(clean_db, text)
    assert info.value.problems == [
        "BotTenant 'acme': spec.whaticket.connections[0].apiTokenSecretRef: "
        "Secret 'atende-secrets' is not labelled atende.dev/tenant=acme",
        "BotTenant 'acme': spec.llm.apiKeySecretRef: "
        "Secret 'globex' is not labelled atende.dev/tenant=acme",
    ]
    assert PLATFORM_KEY not in str(info.value.problems)
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 0


async def test_a_labelled_secret_is_the_token_the_worker_sends(clean_db: SessionMaker) -> None:
    """The control: the label is all it takes, and the stored value is the ``Bearer`` token a
    send carries (the stand-in Whaticket accepts only that token)."""
    secret = ACME_SECRET.replace("token: ", "gemini-api-key: x, token: ")
    await apply_file(clean_db, f"{secret}---\n{acme('acme', 'token')}")
    tenant = await TenantDirectory(clean_db, CIPHER, ttl=60).by_slug("acme")
    assert tenant is not None
    assert tenant.credentials.whaticket_tokens == {"main": "acme-own-token"}
    server = WhaticketStandIn("saas", ["acme-own-token"]).start()
    try:
        async with loopback_egress(5.0) as http:
            await WhaticketClient(http).send_text(
                base_url=server.url, variant=Variant.SAAS,
                token=tenant.credentials.whaticket_tokens["main"], number="5511999998888",
                body="Olá!",
            )  # fmt: skip
        assert [sent["body"] for sent in server.sent()] == ["Olá!"]
    finally:
        server.stop()


def test_a_config_map_labelled_for_another_tenant_is_refused() -> None:
    text = (EXAMPLES / "acme.yaml").read_text()
    other = text.replace("labels: {atende.dev/tenant: acme}   # the tenant that may use it\ndata:",
                         "labels: {atende.dev/tenant: globex}\ndata:")  # fmt: skip
    assert other != text
    with pytest.raises(ManifestError) as info:
        load_manifests(other)
    assert info.value.problems == [
        "BotTenant 'acme': spec.knowledge.configMapRefs[0]: "
        "ConfigMap 'acme-knowledge' is not labelled atende.dev/tenant=acme"
    ]


def test_the_refused_example_names_its_unlabelled_secret() -> None:
    paths = sorted((EXAMPLES / "refused").glob("*.yaml"))
    assert paths
    for path in paths:
        expected = path.read_text().splitlines()[0].removeprefix("# Refused: names ")
        (manifest,), secrets = load_manifests(path.read_text())
        with pytest.raises(ManifestError) as info:
            resolve_credentials(manifest.name, manifest.spec, secrets)
        assert any(expected in p and "is not labelled" in p for p in info.value.problems)
