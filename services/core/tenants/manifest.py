"""Reading tenant files: the same multi-document YAML works with ``kubectl apply -f``.

``kind: Secret`` documents provide the values that ``BotTenant`` documents reference, and
``kind: ConfigMap`` documents the larger knowledge sets (``spec.knowledge.configMapRefs``);
every problem is reported with the path of the field at fault. As in the cluster, a tenant may
use only the Secrets and ConfigMaps labelled ``atende.dev/tenant: <its name>``
(:data:`TENANT_LABEL`), so a file cannot hand one tenant another's credentials either.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from services.core.errors import ManifestError

from . import schema
from .knowledge_refs import expand_knowledge
from .spec import NAME_PATTERN, BotTenantSpec, ConfigMapRef
from .spec_model import SecretRef

API_VERSION = "atende.dev/v1alpha1"
KIND = "BotTenant"
# The opt-in: a Secret or ConfigMap serves only the tenant this label names. Part of the external
# contract (docs/kubernetes.md); the operator watches only objects that carry it.
TENANT_LABEL = "atende.dev/tenant"


def tenant_of(labels: Any) -> str | None:
    """The tenant a Secret's or ConfigMap's labels opt it in for, if any."""
    value = labels.get(TENANT_LABEL) if isinstance(labels, Mapping) else None
    return value if isinstance(value, str) and value else None


def not_opted_in(kind: str, name: str, tenant: str) -> str:
    """Why a tenant may not use this object: named, with the label that would allow it."""
    return f"{kind} {name!r} is not labelled {TENANT_LABEL}={tenant}"


@dataclass(frozen=True, slots=True)
class TenantManifest:
    name: str
    spec: BotTenantSpec
    generation: int | None = None


class SecretStore:
    """Secret values by name and key, as Kubernetes would mount them.

    ``owners`` holds each Secret's :data:`TENANT_LABEL` when the values were read from a file or
    a cluster, where any Secret may be named; :meth:`for_tenant` then keeps only that tenant's.
    Without ``owners`` the caller has already chosen the tenant's Secrets.
    """

    def __init__(
        self,
        secrets: dict[str, dict[str, str]] | None = None,
        owners: Mapping[str, str | None] | None = None,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        self._secrets = secrets or {}
        self._owners = owners
        self._refused = dict(refused or {})  # Secret name -> why this tenant may not use it

    def for_tenant(self, tenant: str) -> SecretStore:
        """Only the Secrets labelled for ``tenant``; naming another is reported, never read."""
        if self._owners is None:
            return self
        mine = {n: v for n, v in self._secrets.items() if self._owners.get(n) == tenant}
        refused = {n: not_opted_in("Secret", n, tenant) for n in self._secrets if n not in mine}
        return SecretStore(mine, refused=refused)

    def get(self, ref: SecretRef) -> str | None:
        return self._secrets.get(ref.name, {}).get(ref.key)

    def describe_missing(self, ref: SecretRef) -> str:
        if ref.name in self._refused:
            return self._refused[ref.name]
        if ref.name not in self._secrets:
            return f"Secret {ref.name!r} not found"
        return f"Secret {ref.name!r} has no key {ref.key!r}"


def _secret_values(doc: dict[str, Any], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, raw in (doc.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(raw), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ManifestError([f"{where}.data.{key}: not valid base64 text"]) from None
    for key, raw in (doc.get("stringData") or {}).items():
        values[str(key)] = str(raw)
    return values


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = "spec"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_spec(raw: Any, where: str) -> BotTenantSpec:
    try:
        return BotTenantSpec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{where}: {_field_path(err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ManifestError(problems) from None


def load_manifests(text: str) -> tuple[list[TenantManifest], SecretStore]:
    """Parse a multi-document YAML text into tenants and the secrets they may reference."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise ManifestError([f"not valid YAML{at}" + (f": {problem}" if problem else "")]) from None

    tenants: list[TenantManifest] = []
    secrets: dict[str, dict[str, str]] = {}
    config_maps: dict[str, dict[str, str]] = {}
    owners: dict[tuple[str, str], str | None] = {}  # (kind, name) -> its TENANT_LABEL
    problems: list[str] = []
    for index, doc in enumerate(docs):
        where = f"document {index + 1}"
        if not isinstance(doc, dict):
            problems.append(f"{where}: expected a mapping with apiVersion and kind")
            continue
        kind = doc.get("kind")
        metadata = doc.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        name = metadata.get("name")
        if not isinstance(name, str) or not re.match(NAME_PATTERN, name) or len(name) > 63:
            problems.append(f"{where}: metadata.name: must be a DNS label (a-z, 0-9, '-')")
            continue
        where = f"{kind} {name!r}"
        try:
            if kind == "Secret" and doc.get("apiVersion") == "v1":
                secrets[name] = _secret_values(doc, where)
                owners["Secret", name] = tenant_of(metadata.get("labels"))
            elif kind == "ConfigMap" and doc.get("apiVersion") == "v1":
                data = doc.get("data") or {}
                config_maps[name] = {str(k): str(v) for k, v in dict(data).items()}
                owners["ConfigMap", name] = tenant_of(metadata.get("labels"))
            elif kind == KIND and doc.get("apiVersion") == API_VERSION:
                generation = metadata.get("generation")
                if schema_problems := schema.validate(doc):
                    raise ManifestError([f"{where}: {p}" for p in schema_problems])
                spec = parse_spec(doc.get("spec"), where)
                tenants.append(TenantManifest(name, spec, generation))
            else:
                problems.append(
                    f"{where}: unsupported apiVersion/kind {doc.get('apiVersion')}/{kind}; "
                    f"expected v1/Secret, v1/ConfigMap or {API_VERSION}/{KIND}"
                )
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    if not tenants:
        raise ManifestError([f"no {KIND} document found"])

    def read(ref: ConfigMapRef) -> str | None:
        return config_maps.get(ref.name, {}).get(ref.key)

    expanded: list[TenantManifest] = []
    for tenant in tenants:
        where = f"{KIND} {tenant.name!r}"
        if refused := _config_maps_not_opted_in(tenant, owners):
            problems.extend(f"{where}: {problem}" for problem in refused)
            continue
        try:
            spec = expand_knowledge(tenant.spec, read, where)
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        expanded.append(TenantManifest(tenant.name, spec, tenant.generation))
    if problems:
        raise ManifestError(problems)
    secret_owners = {name: owner for (kind, name), owner in owners.items() if kind == "Secret"}
    return expanded, SecretStore(secrets, owners=secret_owners)


def _config_maps_not_opted_in(
    tenant: TenantManifest, owners: Mapping[tuple[str, str], str | None]
) -> list[str]:
    """ConfigMaps of the file that the tenant names without their label (missing ones are
    reported by :func:`expand_knowledge`)."""
    return [
        f"spec.knowledge.configMapRefs[{i}]: {not_opted_in('ConfigMap', ref.name, tenant.name)}"
        for i, ref in enumerate(tenant.spec.knowledge.config_map_refs)
        if ("ConfigMap", ref.name) in owners and owners["ConfigMap", ref.name] != tenant.name
    ]
