"""`atende tenants apply`: an idempotent reconcile into Postgres; no secret stored in clear."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from services.core.db import SessionMaker, transaction
from services.core.tenants.credentials import CredentialCipher, TenantCredentials
from services.core.tenants.directory import TenantDirectory
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import ApplyResult, apply_tenant

SECRET_KEY = "platform-secret-key-for-tests"
TOKEN = "wt-token-7f3a9c1e5b2d"
AGENT_PASSWORD = "agent-pass-4b8e2a"
GEMINI_KEY = "AIzaSy-test-gemini-key-0123456789"
HOOK_SECRET = "hook-secret-one-0123456789abcdef"
HOOK_SECRET_2 = "hook-secret-two-fedcba9876543210"

TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata: {{name: acme, labels: {{atende.dev/tenant: acme}}}}
stringData:
  whaticket-token: {token}
  agent-password: {agent}
  webhook-secret: {hook}
  webhook-secret-next: {hook2}
  gemini-api-key: {gemini}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: acme}}
spec:
  displayName: ACME Telecom
  whaticket:
    url: https://whaticket-api.acme.example
    variant: saas
    connections:
      - name: main
        apiTokenSecretRef: {{name: acme, key: whaticket-token}}
    agent:
      email: bot@acme.example
      passwordSecretRef: {{name: acme, key: agent-password}}
  webhook:
    secretRefs: {refs}
  llm:
    apiKeySecretRef: {{name: acme, key: gemini-api-key}}
  persona:
    systemPrompt: {prompt}
"""

ONE_REF = "[{name: acme, key: webhook-secret}]"
TWO_REFS = "[{name: acme, key: webhook-secret-next}, {name: acme, key: webhook-secret}]"


def manifest_text(
    *, prompt: str = "Você é a assistente da ACME.", hook: str = HOOK_SECRET, refs: str = ONE_REF
) -> str:
    return TEMPLATE.format(
        token=TOKEN,
        agent=AGENT_PASSWORD,
        hook=hook,
        hook2=HOOK_SECRET_2,
        gemini=GEMINI_KEY,
        refs=refs,
        prompt=prompt,
    )


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def apply(sessionmaker: SessionMaker, text_: str) -> ApplyResult:
    (manifest,), secrets = load_manifests(text_)
    async with transaction(sessionmaker) as session:
        return await apply_tenant(session, manifest, secrets, CredentialCipher(SECRET_KEY))


async def raw_row(sessionmaker: SessionMaker) -> dict[str, object]:
    async with sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "SELECT t.*, row_to_json(t)::text AS as_json, t::text AS as_text"
                    " FROM tenants t WHERE slug = 'acme'"
                )
            )
        ).one()
    return dict(row._mapping)


async def test_apply_is_idempotent_and_versions_changes(clean_db: SessionMaker) -> None:
    created = await apply(clean_db, manifest_text())
    assert created == ApplyResult("acme", "created", 1, ["main"])

    again = await apply(clean_db, manifest_text())
    assert (again.outcome, again.version) == ("unchanged", 1)

    reprompted = await apply(clean_db, manifest_text(prompt="Você é a Bia, da ACME."))
    assert (reprompted.outcome, reprompted.version) == ("updated", 2)
    row = await raw_row(clean_db)
    assert row["version"] == 2
    spec = row["spec"]
    assert isinstance(spec, dict)
    assert spec["persona"]["systemPrompt"] == "Você é a Bia, da ACME."

    new_secret = "rotated-hook-secret-0123456789abc"
    rotated = await apply(clean_db, manifest_text(prompt="Você é a Bia, da ACME.", hook=new_secret))
    assert (rotated.outcome, rotated.version) == ("updated", 3)
    row = await raw_row(clean_db)
    assert row["webhook_secret_hashes"] == [sha256(new_secret)]

    async with clean_db() as session:
        count = (await session.execute(text("SELECT count(*) FROM tenants"))).scalar_one()
    assert count == 1


async def test_secrets_are_never_stored_in_plaintext(clean_db: SessionMaker) -> None:
    await apply(clean_db, manifest_text(refs=TWO_REFS))
    row = await raw_row(clean_db)
    credentials = row["credentials"]
    assert isinstance(credentials, bytes)
    assert credentials
    dumps = (str(row["as_json"]), str(row["as_text"]), str(row["spec"]), credentials.hex())
    for secret in (TOKEN, AGENT_PASSWORD, GEMINI_KEY, HOOK_SECRET, HOOK_SECRET_2):
        for dump in dumps:
            assert secret not in dump
            assert secret.encode().hex() not in dump
        assert secret.encode() not in credentials
    # Webhook secrets exist only as SHA-256 hashes, current (first) one first.
    assert row["webhook_secret_hashes"] == [sha256(HOOK_SECRET_2), sha256(HOOK_SECRET)]
    # The spec keeps the references, not the values.
    spec = row["spec"]
    assert isinstance(spec, dict)
    assert spec["llm"]["apiKeySecretRef"] == {"name": "acme", "key": "gemini-api-key"}


async def test_directory_returns_decrypted_credentials(clean_db: SessionMaker) -> None:
    await apply(clean_db, manifest_text(refs=TWO_REFS))
    directory = TenantDirectory(clean_db, CredentialCipher(SECRET_KEY), ttl=0)
    config = await directory.by_slug("acme")
    assert config is not None
    assert config.credentials == TenantCredentials(
        whaticket_tokens={"main": TOKEN}, agent_password=AGENT_PASSWORD, gemini_api_key=GEMINI_KEY
    )
    assert config.webhook_secret_hashes == (sha256(HOOK_SECRET_2), sha256(HOOK_SECRET))
    assert config.spec.display_name == "ACME Telecom"
    assert await directory.by_id(config.id) == config
    assert await directory.by_slug("nobody") is None


async def test_directory_sees_an_update_once_its_cache_expires(clean_db: SessionMaker) -> None:
    await apply(clean_db, manifest_text())
    directory = TenantDirectory(clean_db, CredentialCipher(SECRET_KEY), ttl=0)
    before = await directory.by_slug("acme")
    await apply(clean_db, manifest_text(prompt="Novo prompt."))
    after = await directory.by_slug("acme")
    assert before is not None
    assert after is not None
    assert (before.version, after.version) == (1, 2)
    assert after.spec.persona.system_prompt == "Novo prompt."


async def test_credentials_need_the_platform_key(clean_db: SessionMaker) -> None:
    await apply(clean_db, manifest_text())
    directory = TenantDirectory(clean_db, CredentialCipher("another-platform-key"), ttl=0)
    with pytest.raises(ValueError, match="ATENDE_SECRET_KEY"):
        await directory.by_slug("acme")


async def test_repr_never_shows_a_secret(clean_db: SessionMaker) -> None:
    await apply(clean_db, manifest_text())
    config = await TenantDirectory(clean_db, CredentialCipher(SECRET_KEY), ttl=0).by_slug("acme")
    assert config is not None
    for shown in (repr(config.credentials), str(config.credentials), repr(config)):
        for secret in (TOKEN, AGENT_PASSWORD, GEMINI_KEY, HOOK_SECRET):
            assert secret not in shown
    assert "main" in repr(config.credentials)
