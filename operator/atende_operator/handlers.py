"""kopf handlers: thin adapters from kopf's kwargs to :mod:`.reconcile`.

They are registered on an explicit registry by :func:`build_registry` (importing this module
registers nothing), so tests call them directly as plain functions.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf

from services.core.channels.egress_policy import EgressPolicy
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from services.core.redis import create_redis
from services.core.tenants.credentials import CredentialCipher

from . import panel_owned, resources
from .kube import KubernetesApi
from .reconcile import (
    MEMO_KEY,
    OperatorContext,
    ReconcileFailed,
    TenantObject,
    context_of,
    finalize_tenant,
    reconcile_tenant,
)

SETTINGS_KEY = "atende_settings"
FINALIZER = "atende.dev/finalizer"
# The index of Secrets referenced by BotTenants: (namespace, Secret name) -> the BotTenants.
SECRETS_INDEX = "tenant_secrets"
# The same for the ConfigMaps holding their knowledge.
CONFIG_MAPS_INDEX = "tenant_config_maps"
BOTTENANTS = (resources.GROUP, resources.VERSION, resources.PLURAL)


def _plain(value: Any) -> Any:
    """A deep plain copy of a kopf view (Spec, Status, …) or of raw JSON data."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def tenant_object(body: Mapping[str, Any]) -> TenantObject:
    meta: Mapping[str, Any] = body.get("metadata") or {}
    return TenantObject(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=meta.get("uid"),
        generation=meta.get("generation"),
        spec=_plain(body.get("spec") or {}),
        status=_plain(body.get("status") or {}),
        labels=_plain(meta.get("labels") or {}),
        deleting=bool(meta.get("deletionTimestamp")),
    )


# --- lifecycle ------------------------------------------------------------------------------


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = logging.WARNING  # Events for problems only, not every success
    settings.watching.server_timeout = 300
    # Only Secrets and ConfigMaps opted in for a tenant ever reach the operator: the API server
    # filters the lists and watches (an unlabelled Secret's values are never streamed here).
    for plural in ("secrets", "configmaps"):
        settings.watching.label_selectors["v1", plural] = resources.TENANT_LABEL
    if MEMO_KEY in memo:  # injected (tests, embedded runs)
        return
    platform: Settings = memo[SETTINGS_KEY]
    engine = create_engine(platform.database_url, pool_size=2)
    memo[MEMO_KEY] = OperatorContext(
        sessionmaker=create_sessionmaker(engine),
        cipher=CredentialCipher.from_settings(platform),
        kube=KubernetesApi(),
        engine=engine,
        redis=create_redis(platform.redis_url),
        egress=EgressPolicy.from_settings(platform),
        platform_models=tuple(platform.platform_models),
    )


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    ctx = memo.get(MEMO_KEY)
    if isinstance(ctx, OperatorContext) and ctx.engine is not None:
        await ctx.engine.dispose()
        if ctx.redis is not None:
            await ctx.redis.aclose()
        if isinstance(ctx.kube, KubernetesApi):
            ctx.kube.close()


def login(logger: kopf.Logger, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """The same credentials the handlers' client uses (service account, else kubeconfig)."""
    return kopf.login_via_client(logger=logger, **kwargs)


# --- BotTenant ------------------------------------------------------------------------------


async def reconcile(
    *, body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """create / update / resume: one idempotent reconcile into Postgres."""
    obj = tenant_object(body)
    try:
        result = await reconcile_tenant(context_of(memo), obj)
    except ReconcileFailed as exc:
        for key, value in exc.status.items():
            patch.status[key] = value
        if exc.retry_after is None:
            raise kopf.PermanentError(exc.message) from None
        raise kopf.TemporaryError(exc.message, delay=exc.retry_after) from None
    for key, value in result.status.items():
        patch.status[key] = value
    logger.info(f"tenant {obj.name} {result.outcome} (version {result.version})")


async def finalize(
    *, name: str, namespace: str | None, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """delete (finalizer): the tenant is disabled, its history kept."""
    version = await finalize_tenant(context_of(memo), namespace or "", name)
    if version is None:
        logger.info(f"no tenant owned by {namespace}/{name}: nothing to disable")
    else:
        logger.info(f"tenant {name} disabled (version {version})")


def index_secrets(
    *, body: kopf.Body, name: str, namespace: str | None, **_: Any
) -> dict[tuple[str, str], TenantObject]:
    """Which Secrets this BotTenant references (the generated webhook Secret included)."""
    obj = tenant_object(body)
    return {(obj.namespace, ref.name): obj for ref in resources.secret_refs(obj.spec, name)}


def index_config_maps(
    *, body: kopf.Body, name: str, namespace: str | None, **_: Any
) -> dict[tuple[str, str], TenantObject]:
    """Which ConfigMaps this BotTenant's knowledge references."""
    obj = tenant_object(body)
    return {(obj.namespace, cm): obj for cm in resources.config_map_names(obj.spec)}


# --- Secrets and ConfigMaps -------------------------------------------------------------------


def _referenced_change_handler(kind: str, index_id: str) -> Callable[..., Awaitable[None]]:
    async def changed(
        *,
        event: kopf.RawEvent,
        name: str,
        namespace: str | None,
        memo: kopf.Memo,
        logger: kopf.Logger,
        **kwargs: Any,
    ) -> None:
        index = kwargs[index_id]
        await _referenced_changed(kind, index, event, name, namespace, memo, logger)

    return changed


# A referenced Secret was added, changed or deleted: re-reconcile its BotTenants, so a rotated
# token takes effect without anyone editing the BotTenant. Labelling one arrives as ADDED and
# removing its label as DELETED (the selector's view), so both re-reconcile too.
secret_changed = _referenced_change_handler("Secret", SECRETS_INDEX)
# A knowledge ConfigMap changed: re-reconcile, so its new entries are indexed at once.
config_map_changed = _referenced_change_handler("ConfigMap", CONFIG_MAPS_INDEX)


async def _referenced_changed(
    kind: str,
    index: kopf.Index[tuple[str, str], TenantObject],
    event: kopf.RawEvent,
    name: str,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
) -> None:
    if event.get("type") is None:  # the initial listing: resume handlers reconcile anyway
        return
    owners = {(o.namespace, o.name): o for o in index.get((namespace or "", name), [])}
    if not owners:
        return
    ctx = context_of(memo)
    for obj in owners.values():
        if obj.deleting:  # the finalizer disables it; a reconcile now would switch it back on
            continue
        try:
            result = await reconcile_tenant(ctx, obj)
            status = result.status
            logger.info(f"{kind} {name} changed: tenant {obj.name} {result.outcome}")
        except ReconcileFailed as exc:
            status = exc.status
            logger.warning(f"{kind} {name} changed: tenant {obj.name} not applied: {exc.message}")
        except Exception:
            # No retries for raw events: the next change (or the BotTenant's own retries) will.
            logger.exception(f"{kind} {name} changed: tenant {obj.name} not applied")
            continue
        await ctx.kube.patch_tenant_status(obj.namespace, obj.name, status)


def build_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    kopf.on.login(registry=registry)(login)
    for on in (kopf.on.create, kopf.on.resume):
        on(*BOTTENANTS, registry=registry, id="reconcile")(reconcile)
    kopf.on.update(*BOTTENANTS, registry=registry, id="reconcile", field="spec")(reconcile)
    kopf.on.delete(*BOTTENANTS, registry=registry, id="finalize")(finalize)
    kopf.timer(
        *BOTTENANTS, registry=registry, id="panel_owned",
        interval=panel_owned.INTERVAL_SECONDS, when=panel_owned.delegates,
    )(panel_owned.refresh)  # fmt: skip
    kopf.index(*BOTTENANTS, registry=registry, id=SECRETS_INDEX)(index_secrets)
    opted_in = {resources.TENANT_LABEL: kopf.PRESENT}  # and the server's selector (startup)
    kopf.on.event("v1", "secrets", registry=registry, id="secret_changed", labels=opted_in)(
        secret_changed
    )
    kopf.index(*BOTTENANTS, registry=registry, id=CONFIG_MAPS_INDEX)(index_config_maps)
    kopf.on.event("v1", "configmaps", registry=registry, id="config_map_changed", labels=opted_in)(
        config_map_changed
    )
    return registry
