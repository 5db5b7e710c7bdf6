"""Validation of BotTenant documents with the CRD's own schema, as the API server would.

The CRD in ``k8s/crds/`` is the one schema source: the OpenAPI part is checked with
``jsonschema`` (unknown fields refused, as ``kubectl apply`` does with its default strict field
validation) and every ``x-kubernetes-validations`` CEL rule is evaluated with ``cel-python`` on
the part of the document it is attached to. Transition rules (``oldSelf``) only make sense on
update and are left to the API server.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import celpy
import yaml
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

CRD_PATH = Path(__file__).resolve().parents[3] / "k8s" / "crds" / "bottenants.atende.dev.yaml"
VERSION = "v1alpha1"
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_RULES = "x-kubernetes-validations"


@cache
def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return document


@cache
def openapi_schema() -> dict[str, Any]:
    versions = crd()["spec"]["versions"]
    schema: dict[str, Any] = next(v for v in versions if v["name"] == VERSION)["schema"]
    return schema["openAPIV3Schema"]  # type: ignore[no-any-return]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Refuse fields the schema does not name, except where it preserves unknown fields."""
    schema = copy.copy(schema)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if not schema.get(_PRESERVE):
            schema.setdefault("additionalProperties", False)
    if isinstance(schema.get("items"), dict):
        schema["items"] = _strict(schema["items"])
    return schema


@cache
def _validator() -> Draft7Validator:
    return Draft7Validator(_strict(openapi_schema()))


def _path(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def _describe(error: ValidationError) -> str:
    where = list(error.absolute_path)
    required, instance = error.validator_value, error.instance
    if error.validator == "required" and isinstance(required, list) and isinstance(instance, dict):
        missing = [k for k in required if k not in instance]
        return "; ".join(f"{_path([*where, k])}: required field is missing" for k in missing)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(k for k in error.instance if k not in known)
        return "; ".join(f"{_path([*where, k])}: unknown field" for k in unknown)
    return f"{_path(where)}: {error.message}"


@cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_errors(schema: dict[str, Any], value: Any, where: list[str | int]) -> list[str]:
    problems: list[str] = []
    for rule in schema.get(_RULES, []):
        if "oldSelf" in rule["rule"]:
            continue
        try:
            ok = bool(_program(rule["rule"]).evaluate({"self": json_to_cel(value)}))
        except CELEvalError:
            ok = False
        if not ok:
            problems.append(f"{_path(where)}: {rule.get('message', rule['rule'])}")
    if isinstance(value, dict):
        for key, child in schema.get("properties", {}).items():
            if key in value:
                problems += _cel_errors(child, value[key], [*where, key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += _cel_errors(schema["items"], item, [*where, index])
    return problems


def validate(document: dict[str, Any]) -> list[str]:
    """Every problem with a BotTenant document, each naming the field (``spec.x.y``)."""
    errors = sorted(_validator().iter_errors(document), key=lambda e: [str(p) for p in e.path])
    problems = [_describe(e) for e in errors]
    if problems:  # CEL rules assume a well-typed document
        return problems
    return _cel_errors(openapi_schema(), document, [])
