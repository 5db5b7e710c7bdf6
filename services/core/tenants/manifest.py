"""Reading tenant files: the same multi-document YAML works with ``kubectl apply -f``.

``kind: Secret`` documents provide the values that ``BotTenant`` documents reference, and
``kind: ConfigMap`` documents the larger knowledge sets (``spec.knowledge.configMapRefs``);
every problem is reported with the path of the field at fault.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from services.core.errors import ManifestError

from . import schema
from .knowledge_refs import expand_knowledge
from .spec import NAME_PATTERN, BotTenantSpec, ConfigMapRef, SecretRef

API_VERSION = "atende.dev/v1alpha1"
KIND = "BotTenant"


@dataclass(frozen=True, slots=True)
class TenantManifest:
    name: str
    spec: BotTenantSpec
    generation: int | None = None


class SecretStore:
    """Secret values by name and key, as Kubernetes would mount them."""

    def __init__(self, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self._secrets = secrets or {}

    def get(self, ref: SecretRef) -> str | None:
        return self._secrets.get(ref.name, {}).get(ref.key)

    def describe_missing(self, ref: SecretRef) -> str:
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
            elif kind == "ConfigMap" and doc.get("apiVersion") == "v1":
                data = doc.get("data") or {}
                config_maps[name] = {str(k): str(v) for k, v in dict(data).items()}
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
        try:
            spec = expand_knowledge(tenant.spec, read, f"{KIND} {tenant.name!r}")
        except ManifestError as exc:
            problems.extend(exc.problems)
            continue
        expanded.append(TenantManifest(tenant.name, spec, tenant.generation))
    if problems:
        raise ManifestError(problems)
    return expanded, SecretStore(secrets)
