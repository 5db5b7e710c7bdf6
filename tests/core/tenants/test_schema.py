"""The CRD is the one schema: the CLI applies it as the API server would, and the typed model the
product runs on accepts and refuses exactly the same example files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from services.core.errors import ManifestError
from services.core.tenants import schema
from services.core.tenants.manifest import load_manifests
from services.core.tenants.spec import BotTenantSpec

EXAMPLES = Path(__file__).resolve().parents[3] / "k8s" / "examples"
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


def bottenants(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == "BotTenant"]


def walk(node: dict[str, Any], where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(where, node)]
    for key, child in node.get("properties", {}).items():
        found += walk(child, f"{where}.{key}")
    if isinstance(node.get("items"), dict):
        found += walk(node["items"], f"{where}[]")
    return found


def test_the_crd_is_structural_with_status_and_printer_columns() -> None:
    crd = schema.crd()
    assert crd["metadata"]["name"] == "bottenants.atende.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Variant": ".spec.whaticket.variant",
        "Age": ".metadata.creationTimestamp",
    }
    untyped = [where for where, node in walk(schema.openapi_schema()) if "type" not in node]
    assert untyped == []
    status = schema.openapi_schema()["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Ready", "Error"]


def test_every_cel_rule_compiles() -> None:
    rules = [
        rule["rule"]
        for _, node in walk(schema.openapi_schema())
        for rule in node.get("x-kubernetes-validations", [])
    ]
    assert len(rules) >= 3
    for rule in rules:
        schema._program(rule)  # raises on a syntax error


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid_for_both(path: Path) -> None:
    for document in bottenants(path):
        assert schema.validate(document) == []
        BotTenantSpec.model_validate(document["spec"])


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_examples_are_refused_by_both_naming_the_field(path: Path) -> None:
    expected = path.read_text().splitlines()[0].removeprefix("# Refused: names ")
    (document,) = bottenants(path)
    problems = schema.validate(document)
    assert problems, "the CRD schema accepted it"
    assert any(p.startswith(expected + ":") for p in problems), problems
    with pytest.raises(ValidationError):
        BotTenantSpec.model_validate(document["spec"])
    with pytest.raises(ManifestError) as info:
        load_manifests(path.read_text())
    assert any(expected in p for p in info.value.problems)


def _model_field(model: type[BaseModel], camel: str) -> Any:
    return next(f for f in model.model_fields.values() if f.alias == camel)


def test_defaults_agree() -> None:
    """A field the API server defaults means the same when the model fills it in."""
    checked = 0
    for where, node in walk(schema.openapi_schema()["properties"]["spec"]):
        if "default" not in node:
            continue
        model: type[BaseModel] = BotTenantSpec
        *parents, leaf = where.strip(".").split(".")
        for name in parents:
            annotation = _model_field(model, name.removesuffix("[]")).annotation
            if name.endswith("[]"):  # a list of objects: the items' model
                (annotation,) = get_args(annotation)
            if not isinstance(annotation, type):  # an optional object: X | None
                (annotation,) = [a for a in get_args(annotation) if a is not type(None)]
            assert isinstance(annotation, type)
            model = annotation
        default = _model_field(model, leaf).default
        plain = default.value if hasattr(default, "value") else default
        plain = plain if isinstance(plain, str | int | float | bool | list) else str(plain)
        assert plain == node["default"], where
        checked += 1
    assert checked >= 10
