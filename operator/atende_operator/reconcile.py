"""One reconcile of one BotTenant: validate, gather its Secrets, ``apply_tenant`` in Postgres.

Both the BotTenant handlers and the Secret watch call :func:`reconcile_tenant`; it knows nothing
of kopf's handler protocol. It returns the status to report, or raises :class:`ReconcileFailed`
carrying the status and whether retrying can help.
"""

from __future__ import annotations

import re
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.channels.destinations import unreachable_destinations
from services.core.channels.egress_policy import EgressPolicy
from services.core.db import SessionMaker, transaction
from services.core.errors import ManifestError
from services.core.llm.allowlist import unbilled_model
from services.core.tenants import schema
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.knowledge_refs import expand_knowledge
from services.core.tenants.manifest import (
    SecretStore,
    TenantManifest,
    not_opted_in,
    parse_spec,
    tenant_of,
)
from services.core.tenants.messages import deprecations
from services.core.tenants.notify import tenant_changed
from services.core.tenants.overlay import OverlayRefused
from services.core.tenants.service import (
    TenantClaimedError,
    apply_tenant,
    disable_tenant,
    enqueue_embedding,
)
from services.core.tenants.spec import (
    NAME_PATTERN,
    BotTenantSpec,
    ConfigMapRef,
    WebhookSpec,
)
from services.core.tenants.spec_model import SecretRef

from . import resources
from .hold import hold, release
from .kube import Found, KubeApi
from .resources import Phase, Reason, Ref

MEMO_KEY = "atende"
SECRET_RETRY_SECONDS = 30.0
BAD_SECRET_RETRY_SECONDS = 120.0


@dataclass(slots=True)
class OperatorContext:
    """What every handler needs, kept in kopf's memo under :data:`MEMO_KEY`."""

    sessionmaker: SessionMaker
    cipher: CredentialCipher
    kube: KubeApi
    engine: AsyncEngine | None = None  # set when the operator created it (disposed on cleanup)
    # Running api and worker processes drop a changed tenant from their caches on a notice;
    # a tenant released from a hold gets its backlog queued here.
    redis: ArqRedis | None = None
    # What the worker may call (ATENDE_EGRESS_ALLOWED_NETWORKS): a destination it always
    # refuses is refused here, with the field named in the status.
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    # The models the platform key pays for (ATENDE_PLATFORM_MODELS): a tenant on the platform
    # key naming another is refused here, not only at its first turn.
    platform_models: tuple[str, ...] = ()


def context_of(memo: Mapping[str, Any]) -> OperatorContext:
    ctx = memo.get(MEMO_KEY)
    if not isinstance(ctx, OperatorContext):
        raise kopf.TemporaryError("the operator is not started yet", delay=5)
    return ctx


@dataclass(frozen=True, slots=True)
class TenantObject:
    """The parts of a BotTenant a reconcile reads (from a handler's kwargs or the index)."""

    namespace: str
    name: str
    uid: str | None
    generation: int | None
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    labels: Mapping[str, str]
    deleting: bool = False

    @property
    def source(self) -> str:
        return resources.source_of(self.namespace, self.name)

    def owner_body(self) -> kopf.Body:
        return kopf.Body(
            {
                "apiVersion": resources.API_VERSION,
                "kind": resources.KIND,
                "metadata": {
                    "name": self.name,
                    "namespace": self.namespace,
                    "uid": self.uid or "",
                    "labels": dict(self.labels),
                },
            }
        )


class ReconcileFailed(Exception):
    """``retry_after`` is ``None`` when only a change of the BotTenant can help."""

    def __init__(self, status: dict[str, Any], message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Reconciled:
    status: dict[str, Any]
    outcome: str
    version: int


def _failure(
    obj: TenantObject, phase: Phase, reason: Reason, problems: list[str], retry: float | None
) -> ReconcileFailed:
    message = "; ".join(problems)
    status = resources.tenant_status(
        phase=phase, reason=reason, message=message, generation=obj.generation, previous=obj.status
    )
    return ReconcileFailed(status, message, retry)


def validate(obj: TenantObject) -> BotTenantSpec:
    """The CRD's own schema (as the API server applies it) and then the typed model."""
    if not re.match(NAME_PATTERN, obj.name) or len(obj.name) > 63:
        raise _failure(
            obj, Phase.ERROR, Reason.INVALID_SPEC,
            ["metadata.name: a tenant name must be a DNS label (a-z, 0-9, '-'; 63 at most)"], None,
        )  # fmt: skip
    document = {
        "apiVersion": resources.API_VERSION,
        "kind": resources.KIND,
        "metadata": {"name": obj.name},
        "spec": dict(obj.spec),
    }
    if problems := schema.validate(document):
        raise _failure(obj, Phase.ERROR, Reason.INVALID_SPEC, problems, None)
    try:
        return parse_spec(dict(obj.spec), f"BotTenant {obj.source}")
    except ManifestError as exc:
        raise _failure(obj, Phase.ERROR, Reason.INVALID_SPEC, exc.problems, None) from None


async def ensure_webhook_secret(kube: KubeApi, obj: TenantObject) -> None:
    """Create ``<name>-webhook`` (owned by the BotTenant, labelled for it) unless it exists.

    One that exists is never written to (the operator has no patch on Secrets): without its key
    or its label it is refused by :func:`read_referenced` like any other Secret.
    """
    name = resources.generated_webhook_secret_name(obj.name)
    if await kube.read_secret(obj.namespace, name) is not None:
        return
    manifest = resources.webhook_secret_manifest(
        obj.name, obj.namespace, random_secrets.token_urlsafe(32)
    )
    kopf.adopt(manifest, owner=obj.owner_body())  # keeps our label over the BotTenant's
    await kube.create_secret(obj.namespace, manifest)  # False: a concurrent reconcile made it


class NotOptedIn(ManifestError):
    """A referenced object exists but is not labelled for this tenant: its values are dropped."""


async def read_referenced(
    kube: KubeApi, namespace: str, refs: list[Ref], tenant: str
) -> SecretStore:
    """Only the referenced keys of the Secrets labelled for ``tenant``; a missing one is a
    ManifestError (retried), one labelled otherwise a :class:`NotOptedIn`."""
    values: dict[str, dict[str, str]] = {}
    found: dict[str, Found | None] = {}
    problems: list[str] = []
    refused = False
    for ref in refs:
        if ref.name not in found:
            found[ref.name] = await kube.read_secret(namespace, ref.name)
        secret = found[ref.name]
        if secret is None:
            problems.append(f"{ref.path}: Secret {ref.name!r} not found in namespace {namespace!r}")
        elif tenant_of(secret.labels) != tenant:
            refused = True
            problems.append(f"{ref.path}: {not_opted_in('Secret', ref.name, tenant)}")
        elif ref.key not in secret.data:
            problems.append(f"{ref.path}: Secret {ref.name!r} has no key {ref.key!r}")
        else:
            values.setdefault(ref.name, {})[ref.key] = secret.data[ref.key]
    if problems:
        raise (NotOptedIn if refused else ManifestError)(problems)
    return SecretStore(values, owners=dict.fromkeys(values, tenant))  # core checks them again


async def _with_config_map_knowledge(
    ctx: OperatorContext, obj: TenantObject, spec: BotTenantSpec
) -> BotTenantSpec:
    """Fold the referenced ConfigMaps' entries in; a missing ConfigMap is retried (it may be
    applied right after the BotTenant), a malformed one waits for a change."""
    found: dict[str, Found | None] = {}
    for name in resources.config_map_names(obj.spec):
        found[name] = await ctx.kube.read_config_map(obj.namespace, name)
    missing = [name for name, data in found.items() if data is None]
    if missing:
        problems = [f"ConfigMap {n!r} not found in namespace {obj.namespace!r}" for n in missing]
        raise _failure(
            obj, Phase.PENDING, Reason.CONFIG_MAP_MISSING, problems, SECRET_RETRY_SECONDS
        )
    refused = [n for n, cm in found.items() if cm is not None and tenant_of(cm.labels) != obj.name]
    if refused:
        problems = [not_opted_in("ConfigMap", n, obj.name) for n in refused]
        retry = BAD_SECRET_RETRY_SECONDS  # labelling it re-reconciles at once (the watch)
        await hold(ctx.sessionmaker, ctx.redis, obj.name, obj.source)  # its stored FAQ too
        raise _failure(obj, Phase.ERROR, Reason.CONFIG_MAP_NOT_LABELLED, problems, retry)

    def read(ref: ConfigMapRef) -> str | None:
        cm = found.get(ref.name)
        return None if cm is None else cm.data.get(ref.key)

    try:
        return expand_knowledge(spec, read, f"BotTenant {obj.source}")
    except ManifestError as exc:
        raise _failure(obj, Phase.ERROR, Reason.INVALID_SPEC, exc.problems, None) from None


async def reconcile_tenant(ctx: OperatorContext, obj: TenantObject) -> Reconciled:
    spec = validate(obj)
    if problems := unreachable_destinations(spec, ctx.egress):
        raise _failure(obj, Phase.ERROR, Reason.DESTINATION_REFUSED, problems, None)
    if problem := unbilled_model(spec, ctx.platform_models):
        raise _failure(obj, Phase.ERROR, Reason.MODEL_NOT_ALLOWED, [problem], None)
    refs = resources.secret_refs(obj.spec, obj.name)
    if resources.uses_generated_webhook_secret(obj.spec):
        await ensure_webhook_secret(ctx.kube, obj)
        generated = next(r for r in refs if r.path == "spec.webhook.secretRefs")
        current = SecretRef(name=generated.name, key=generated.key)
        spec = spec.model_copy(update={"webhook": WebhookSpec(secret_refs=[current])})
    try:
        store = await read_referenced(ctx.kube, obj.namespace, refs, obj.name)
    except NotOptedIn as exc:  # never retried fast: labelling the Secret re-reconciles at once
        await hold(ctx.sessionmaker, ctx.redis, obj.name, obj.source)  # what it stored before
        raise _failure(
            obj, Phase.ERROR, Reason.SECRET_NOT_LABELLED, exc.problems, BAD_SECRET_RETRY_SECONDS
        ) from None
    except ManifestError as exc:
        raise _failure(
            obj, Phase.PENDING, Reason.SECRET_MISSING, exc.problems, SECRET_RETRY_SECONDS
        ) from None

    spec = await _with_config_map_knowledge(ctx, obj, spec)
    manifest = TenantManifest(obj.name, spec, obj.generation)
    try:
        async with transaction(ctx.sessionmaker) as session:
            result = await apply_tenant(session, manifest, store, ctx.cipher, source=obj.source)
    except TenantClaimedError as exc:
        raise _failure(obj, Phase.ERROR, Reason.NAME_CLAIMED, exc.problems, None) from None
    except OverlayRefused as exc:  # the panel's edits rely on what this spec took away
        raise _failure(obj, Phase.ERROR, Reason.INVALID_SPEC, exc.problems, None) from None
    except ManifestError as exc:  # a referenced value that cannot be used (too short, …)
        raise _failure(
            obj, Phase.ERROR, Reason.INVALID_SECRET, exc.problems, BAD_SECRET_RETRY_SECONDS
        ) from None

    if result.outcome != "unchanged":
        await _notify(ctx, obj.name)
    if ctx.redis is not None:  # its knowledge embedded by the worker (the sweeper backs it up)
        await enqueue_embedding(ctx.redis, result)
    await release(ctx.sessionmaker, ctx.redis, obj.name)
    hook = spec.webhook.secret_refs[0]
    notes = deprecations(spec.persona, spec.messages)
    if owned := [o.field.value for o in result.panel_owned]:
        notes.append(f"edited in the panel (this resource's value not used): {', '.join(owned)}")
    deprecated = "".join(f"; {note}" for note in notes)
    status = resources.tenant_status(
        phase=Phase.READY,
        reason=Reason.RECONCILED,
        message=f"tenant {result.outcome} (version {result.version}){deprecated}",
        generation=obj.generation,
        previous=obj.status,
        webhook_path=resources.webhook_path(obj.name, spec.whaticket.connections[0].name),
        webhook_secret_ref=Ref("spec.webhook.secretRefs[0]", hook.name, hook.key),
    )
    status["panelOwned"] = [o.status() for o in result.panel_owned]  # a list: replaced whole
    return Reconciled(status, result.outcome, result.version)


async def finalize_tenant(ctx: OperatorContext, namespace: str, name: str) -> int | None:
    """Disable the tenant this BotTenant owns (its rows stay); the version it got, if any."""
    async with transaction(ctx.sessionmaker) as session:
        tenant = await disable_tenant(session, name, source=resources.source_of(namespace, name))
        version = None if tenant is None else tenant.version
    if version is not None:
        await _notify(ctx, name)
    return version


async def _notify(ctx: OperatorContext, slug: str) -> None:
    if ctx.redis is not None:
        await tenant_changed(ctx.redis, slug)
