"""Pure builders: what the operator writes to Kubernetes, computed from plain data.

Nothing here talks to the API server or the database, and nothing here ever sees a secret value
except :func:`webhook_secret_manifest`, which receives the value it must store.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

# The opt-in label every Secret and ConfigMap a BotTenant uses must carry (core's rule, shared
# with `tenants apply -f`); the operator's watches select on it.
from services.core.tenants.manifest import TENANT_LABEL as TENANT_LABEL

GROUP = "atende.dev"
VERSION = "v1alpha1"
PLURAL = "bottenants"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "BotTenant"

# The Secret generated when spec.webhook.secretRefs is absent or empty.
WEBHOOK_SECRET_KEY = "webhook-secret"  # noqa: S105 - a key name
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "atende-operator"
READY = "Ready"


class Phase(StrEnum):
    PENDING = "Pending"
    READY = "Ready"
    ERROR = "Error"


class Reason(StrEnum):  # the condition's reason (names, no values)
    RECONCILED = "Reconciled"
    SECRET_MISSING = "SecretMissing"  # noqa: S105
    CONFIG_MAP_MISSING = "ConfigMapMissing"
    INVALID_SECRET = "InvalidSecret"  # noqa: S105
    INVALID_SPEC = "InvalidSpec"
    NAME_CLAIMED = "NameClaimed"
    DESTINATION_REFUSED = "DestinationRefused"  # a URL/host the egress policy always refuses
    MODEL_NOT_ALLOWED = "ModelNotAllowed"  # not one the platform key pays for, and no own key
    # A referenced Secret/ConfigMap exists but is not labelled atende.dev/tenant: <this name>.
    SECRET_NOT_LABELLED = "SecretNotLabelled"  # noqa: S105
    CONFIG_MAP_NOT_LABELLED = "ConfigMapNotLabelled"


@dataclass(frozen=True, slots=True)
class Ref:
    """One secret reference of a spec, with the field path that names it (for messages)."""

    path: str
    name: str
    key: str


def source_of(namespace: str, name: str) -> str:
    """The ``tenants.source`` value of a BotTenant: who owns the tenant row."""
    return f"{namespace}/{name}"


def generated_webhook_secret_name(tenant: str) -> str:
    return f"{tenant}-webhook"


def _ref(raw: Any, path: str) -> Ref | None:
    if not isinstance(raw, Mapping):
        return None
    name, key = raw.get("name"), raw.get("key")
    if isinstance(name, str) and isinstance(key, str) and name and key:
        return Ref(path, name, key)
    return None


def _items(raw: Any) -> Sequence[Any]:
    return raw if isinstance(raw, list) else []


def _mapping(raw: Any) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def uses_generated_webhook_secret(spec: Mapping[str, Any]) -> bool:
    return not _items(_mapping(spec.get("webhook")).get("secretRefs"))


def secret_refs(spec: Mapping[str, Any], tenant: str) -> list[Ref]:
    """Every Secret key a BotTenant spec references, in the CLI's field-path terms.

    Works on the raw spec (it also feeds the Secret index, which sees specs before validation);
    malformed references are skipped here and reported by validation. When no webhook secret is
    referenced, the generated ``<name>-webhook`` Secret stands in for ``spec.webhook.secretRefs``.
    """
    whaticket = _mapping(spec.get("whaticket"))
    found: list[Ref | None] = [
        _ref(
            _mapping(conn).get("apiTokenSecretRef"),
            f"spec.whaticket.connections[{i}].apiTokenSecretRef",
        )
        for i, conn in enumerate(_items(whaticket.get("connections")))
    ]
    found.append(
        _ref(_mapping(whaticket.get("agent")).get("passwordSecretRef"),
             "spec.whaticket.agent.passwordSecretRef")
    )  # fmt: skip
    found.append(_ref(_mapping(spec.get("llm")).get("apiKeySecretRef"), "spec.llm.apiKeySecretRef"))
    hooks = _items(_mapping(spec.get("webhook")).get("secretRefs"))
    found += [_ref(ref, f"spec.webhook.secretRefs[{i}]") for i, ref in enumerate(hooks)]
    subscriptions = _items(_mapping(spec.get("events")).get("subscriptions"))
    found += [
        _ref(_mapping(sub).get("secretRef"), f"spec.events.subscriptions[{i}].secretRef")
        for i, sub in enumerate(subscriptions)
    ]
    fallback = _mapping(spec.get("fallback"))
    found.append(
        _ref(_mapping(fallback.get("sms")).get("authTokenSecretRef"),
             "spec.fallback.sms.authTokenSecretRef")
    )  # fmt: skip
    found.append(
        _ref(_mapping(fallback.get("email")).get("passwordSecretRef"),
             "spec.fallback.email.passwordSecretRef")
    )  # fmt: skip
    meta = _mapping(spec.get("meta"))
    found += [
        _ref(meta.get(field), f"spec.meta.{field}")
        for field in ("verifyTokenSecretRef", "appSecretSecretRef", "accessTokenSecretRef")
    ]
    keys = _items(_mapping(spec.get("actions")).get("apiKeySecretRefs"))
    found += [_ref(ref, f"spec.actions.apiKeySecretRefs[{i}]") for i, ref in enumerate(keys)]
    if not hooks:
        generated = generated_webhook_secret_name(tenant)
        found.append(Ref("spec.webhook.secretRefs", generated, WEBHOOK_SECRET_KEY))
    return [ref for ref in found if ref is not None]


def config_map_names(spec: Mapping[str, Any]) -> list[str]:
    """The ConfigMaps a BotTenant's knowledge references (raw spec, as for the index)."""
    refs = _items(_mapping(spec.get("knowledge")).get("configMapRefs"))
    names = [_mapping(ref).get("name") for ref in refs]
    return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


def webhook_secret_manifest(tenant: str, namespace: str, value: str) -> dict[str, Any]:
    """The generated webhook Secret; the caller adopts it (ownerReferences to the BotTenant)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": generated_webhook_secret_name(tenant),
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY, TENANT_LABEL: tenant},
        },
        "data": {WEBHOOK_SECRET_KEY: base64.b64encode(value.encode()).decode()},
    }


def webhook_path(tenant: str, connection: str) -> str:
    """Where Whaticket must post; the last segment is the value of ``status.webhookSecretRef``."""
    return f"/hooks/whaticket/{tenant}/{connection}/<{WEBHOOK_SECRET_KEY}>"


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ready_condition(
    ready: bool,
    reason: Reason,
    message: str,
    previous: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
    generation: int | None = None,
) -> dict[str, Any]:
    """The ``Ready`` condition, shaped as ``metav1.Condition`` (the API conventions'
    type/status/reason/message/observedGeneration); ``lastTransitionTime`` only moves when
    ``status`` flips."""
    status = "True" if ready else "False"
    before = next((c for c in previous if c.get("type") == READY), None)
    if before is not None and before.get("status") == status and before.get("lastTransitionTime"):
        since = str(before["lastTransitionTime"])
    else:
        since = _timestamp(now or datetime.now(UTC))
    return {
        "type": READY,
        "status": status,
        "reason": str(reason),
        "message": message,
        "lastTransitionTime": since,
        **({} if generation is None else {"observedGeneration": generation}),
    }


def tenant_status(
    *,
    phase: Phase,
    reason: Reason,
    message: str,
    generation: int | None,
    previous: Mapping[str, Any] | None = None,
    webhook_path: str | None = None,
    webhook_secret_ref: Ref | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole ``status`` the operator reports (merge-patched: keys it owns, nothing else)."""
    conditions = _items(_mapping(previous).get("conditions"))
    status: dict[str, Any] = {
        "phase": str(phase),
        "observedGeneration": generation,
        "conditions": [
            ready_condition(phase is Phase.READY, reason, message, conditions, now, generation),
            *(c for c in conditions if isinstance(c, Mapping) and c.get("type") != READY),
        ],
    }
    if webhook_path is not None:
        status["webhookPath"] = webhook_path
    if webhook_secret_ref is not None:
        status["webhookSecretRef"] = {
            "name": webhook_secret_ref.name,
            "key": webhook_secret_ref.key,
        }
    return status
