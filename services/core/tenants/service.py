"""Reconciling a tenant: the one function both ``atende tenants apply`` and the operator call."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

from arq.connections import ArqRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs, knowledge
from services.core.errors import ManifestError
from services.core.models import Tenant

from .credentials import (
    SIGNING_SECRET_RULE,
    CredentialCipher,
    TenantCredentials,
    hash_webhook_secret,
    is_signing_secret,
)
from .manifest import SecretStore, TenantManifest
from .overlay import Owned, for_apply
from .spec import BotTenantSpec
from .spec_model import SecretRef

MIN_WEBHOOK_SECRET_LENGTH = 24
# ``tenants.source`` of tenants applied from a file (``atende tenants apply -f``); a BotTenant's
# is ``<namespace>/<name>``.
FILE_SOURCE = "file"


class TenantClaimedError(ManifestError):
    """The tenant name belongs to another BotTenant (another namespace) than the one applied."""

    def __init__(self, name: str, owner: str, source: str) -> None:
        super().__init__(
            [f"tenant {name!r} belongs to {owner!r}; it cannot also be applied from {source!r}"]
        )
        self.owner = owner


@dataclass(frozen=True, slots=True)
class ApplyResult:
    name: str
    outcome: Literal["created", "updated", "unchanged"]
    version: int
    connections: list[str]
    # What the embedding job needs once the apply committed (:func:`enqueue_embedding`).
    tenant_id: int = field(default=0, compare=False)
    knowledge_version: str = field(default="", compare=False)
    # The delegated fields the panel has edited, left as the panel has them (status.panelOwned).
    panel_owned: tuple[Owned, ...] = field(default=(), compare=False)


def _resolve(secrets: SecretStore, ref: SecretRef, path: str, problems: list[str]) -> str:
    value = secrets.get(ref)
    if value is None:
        problems.append(f"{path}: {secrets.describe_missing(ref)}")
        return ""
    return value


def _hashed(
    secrets: SecretStore, refs: list[SecretRef], path: str, problems: list[str]
) -> list[str]:
    """Capability tokens (webhook secrets, action keys): long enough, kept as SHA-256 only."""
    hashes = []
    for i, ref in enumerate(refs):
        value = _resolve(secrets, ref, f"{path}[{i}]", problems)
        if value and len(value) < MIN_WEBHOOK_SECRET_LENGTH:
            problems.append(f"{path}[{i}]: must be at least {MIN_WEBHOOK_SECRET_LENGTH} characters")
        hashes.append(hash_webhook_secret(value))
    return hashes


def resolve_credentials(
    name: str, spec: BotTenantSpec, secrets: SecretStore
) -> tuple[TenantCredentials, list[str]]:
    """Look up every referenced secret; returns the credentials and the webhook secret hashes."""
    secrets = secrets.for_tenant(name)  # only the Secrets labelled for this tenant
    problems: list[str] = []
    where = f"BotTenant {name!r}: spec"
    tokens: dict[str, str] = {}
    for i, conn in enumerate(spec.whaticket.connections):
        path = f"{where}.whaticket.connections[{i}].apiTokenSecretRef"
        if conn.api_token_secret_ref is not None:
            tokens[conn.name] = _resolve(secrets, conn.api_token_secret_ref, path, problems)
        elif spec.whaticket.url is not None:
            problems.append(f"{path}: required when whaticket.url is set")
    agent_password = None
    if spec.whaticket.agent is not None:
        path = f"{where}.whaticket.agent.passwordSecretRef"
        agent_password = _resolve(secrets, spec.whaticket.agent.password_secret_ref, path, problems)
    gemini_key = None
    if spec.llm.api_key_secret_ref is not None:
        path = f"{where}.llm.apiKeySecretRef"
        gemini_key = _resolve(secrets, spec.llm.api_key_secret_ref, path, problems)
    hashes = _hashed(secrets, spec.webhook.secret_refs, f"{where}.webhook.secretRefs", problems)
    signing: dict[str, str] = {}
    for i, subscription in enumerate(spec.events.subscriptions):
        path = f"{where}.events.subscriptions[{i}].secretRef"
        secret = _resolve(secrets, subscription.secret_ref, path, problems)
        if secret and not is_signing_secret(secret):
            problems.append(f"{path}: {SIGNING_SECRET_RULE}")
        signing[subscription.name] = secret
    action_keys = _hashed(
        secrets, spec.actions.api_key_secret_refs, f"{where}.actions.apiKeySecretRefs", problems
    )
    fallback = spec.fallback
    sms_token = smtp_password = None
    if fallback.sms is not None:
        path = f"{where}.fallback.sms.authTokenSecretRef"
        sms_token = _resolve(secrets, fallback.sms.auth_token_secret_ref, path, problems)
    if fallback.email is not None and fallback.email.password_secret_ref is not None:
        path = f"{where}.fallback.email.passwordSecretRef"
        smtp_password = _resolve(secrets, fallback.email.password_secret_ref, path, problems)
    meta: list[str | None] = [None, None, None]
    if spec.meta is not None:
        refs = (
            ("verifyTokenSecretRef", spec.meta.verify_token_secret_ref),
            ("appSecretSecretRef", spec.meta.app_secret_secret_ref),
            ("accessTokenSecretRef", spec.meta.access_token_secret_ref),
        )
        meta = [_resolve(secrets, ref, f"{where}.meta.{field}", problems) for field, ref in refs]
    if not spec.webhook.secret_refs:
        problems.append(
            f"{where}.webhook.secretRefs: at least one webhook secret is required "
            "(only the operator generates one when it is left out)"
        )
    if problems:
        raise ManifestError(problems)
    credentials = TenantCredentials(
        tokens, agent_password, gemini_key, signing, action_keys, sms_token, smtp_password, *meta
    )
    return credentials, hashes


def _fingerprint(spec: BotTenantSpec, credentials: TenantCredentials, hashes: list[str]) -> str:
    material = json.dumps(
        {
            "spec": spec.model_dump(mode="json", by_alias=True),
            "tokens": credentials.whaticket_tokens,
            "agent": credentials.agent_password,
            "gemini": credentials.gemini_api_key,
            "hooks": hashes,
            "signing": credentials.event_secrets,
            "actions": credentials.action_key_hashes,
            "fallback": [credentials.sms_auth_token, credentials.smtp_password],
            "meta": [
                credentials.meta_verify_token,
                credentials.meta_app_secret,
                credentials.meta_access_token,
            ],
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


async def apply_tenant(
    session: AsyncSession,
    manifest: TenantManifest,
    secrets: SecretStore,
    cipher: CredentialCipher,
    *,
    source: str = FILE_SOURCE,
) -> ApplyResult:
    """Create or update a tenant from its spec; idempotent (same input → ``unchanged``).

    ``source`` says who applies it (see :func:`check_claim`): a name claimed by one BotTenant is
    refused to every other source, with :class:`TenantClaimedError`.
    """
    credentials, hashes = resolve_credentials(manifest.name, manifest.spec, secrets)
    fingerprint = _fingerprint(manifest.spec, credentials, hashes)
    spec_json = manifest.spec.model_dump(mode="json", by_alias=True)
    connections = [c.name for c in manifest.spec.whaticket.connections]

    tenant = await session.scalar(
        select(Tenant).where(Tenant.slug == manifest.name).with_for_update()
    )
    if tenant is None:
        tenant = Tenant(
            slug=manifest.name,
            display_name=manifest.spec.display_name,
            enabled=manifest.spec.enabled,
            spec=spec_json,
            spec_hash=fingerprint,
            webhook_secret_hashes=hashes,
            credentials=cipher.encrypt(credentials),
            version=1,
            source=source,
        )
        session.add(tenant)
        await session.flush()
        indexed = await _sync_knowledge(session, tenant.id, manifest.spec)
        return ApplyResult(manifest.name, "created", 1, connections, tenant.id, indexed)
    check_claim(tenant, source)
    tenant.source = source
    # The panel's edits of delegated fields stay in force (the fingerprint is the resource's).
    spec, owned = await for_apply(session, tenant.id, manifest.spec, actor=f"apply:{source}")
    # Stored under an old or unknown key: rewritten, even with nothing else changed.
    if tenant.spec_hash == fingerprint and cipher.is_current(tenant.credentials):
        await session.flush()
        indexed = await _sync_knowledge(session, tenant.id, spec)  # a no-op once indexed
        return ApplyResult(
            manifest.name, "unchanged", tenant.version, connections, tenant.id, indexed, owned
        )
    tenant.display_name = manifest.spec.display_name
    tenant.enabled = manifest.spec.enabled
    tenant.spec = spec.model_dump(mode="json", by_alias=True)
    tenant.spec_hash = fingerprint
    tenant.webhook_secret_hashes = hashes
    tenant.credentials = cipher.encrypt(credentials)
    tenant.version += 1
    await session.flush()
    indexed = await _sync_knowledge(session, tenant.id, spec)
    return ApplyResult(
        manifest.name, "updated", tenant.version, connections, tenant.id, indexed, owned
    )


async def _sync_knowledge(session: AsyncSession, tenant_id: int, spec: BotTenantSpec) -> str:
    """The knowledge index follows the spec in the same transaction (replaced when changed);
    the version indexed."""
    language, entries = spec.persona.language, spec.knowledge.entries
    await knowledge.sync(session, tenant_id, language, entries)
    return knowledge.knowledge_version(language, entries)


async def enqueue_embedding(redis: ArqRedis, result: ApplyResult) -> bool:
    """After the apply's commit: embed what changed of its knowledge (every apply, changed or
    not, so the next apply re-does an enqueue Redis lost; the job is a no-op when nothing lacks
    a vector). False leaves it to the sweeper."""
    return await jobs.enqueue_embedding(redis, result.tenant_id, result.knowledge_version)


def check_claim(tenant: Tenant, source: str) -> None:
    """Refuse to let ``source`` take over a tenant another BotTenant owns.

    A BotTenant (``<namespace>/<name>``) owns its tenant for good, even once deleted (its history
    must never become readable from another namespace). A tenant from a file, or from before
    sources were recorded, may be taken over by a BotTenant of the same name.
    """
    owner = tenant.source
    if owner is not None and owner not in (FILE_SOURCE, source):
        raise TenantClaimedError(tenant.slug, owner, source)


async def disable_tenant(
    session: AsyncSession, slug: str, *, source: str | None = None
) -> Tenant | None:
    """Switch a tenant off, keeping every row of its history; ``None`` when there is none (or,
    with ``source``, when it belongs to someone else). The next apply rewrites it in full."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug).with_for_update())
    if tenant is None or (source is not None and tenant.source != source):
        return None
    tenant.enabled = False
    tenant.version += 1
    tenant.spec_hash = ""  # an apply of the very same spec must switch it back on
    await session.flush()
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    return list(await session.scalars(select(Tenant).order_by(Tenant.slug)))
