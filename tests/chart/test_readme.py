"""The chart README's value table and values.yaml agree: every value is documented, and every
documented value exists (in values.schema.json, which also knows values that default to
nothing, such as ``secrets.databaseUrl``)."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from .render import CHART

ROW = re.compile(r"^\| (`[^|]+`) \|")
NAME = re.compile(r"`([^`]+)`")


def documented() -> set[str]:
    """The names in the table's first column. A name without a dot after the first of a row
    is relative to the first one's parent: `api.ingress.enabled` / `host` names
    api.ingress.host. A trailing `.*` documents everything below."""
    names = set()
    for line in (CHART / "README.md").read_text().splitlines():
        row = ROW.match(line)
        if not row:
            continue
        first, *rest = NAME.findall(row.group(1))
        parent = first.rpartition(".")[0]
        names.add(first.removesuffix(".*"))
        names |= {name if "." in name or not parent else f"{parent}.{name}" for name in rest}
    return names


def leaves(values: dict[str, Any], prefix: str = "") -> set[str]:
    """Dotted paths of values.yaml's leaves (an empty map is a leaf)."""
    found = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            found |= leaves(value, f"{path}.")
        else:
            found.add(path)
    return found


def in_schema(name: str, schema: dict[str, Any]) -> bool:
    node = schema
    for part in name.split("."):
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].removeprefix("#/definitions/")]
        properties = node.get("properties", {})
        if part not in properties:
            return False
        node = properties[part]
    return True


def _covers(name: str, leaf: str) -> bool:
    """The name documents the leaf, a map holding it, or (for a map empty by default, such as
    `secrets`) what goes in it."""
    return name == leaf or leaf.startswith(f"{name}.") or name.startswith(f"{leaf}.")


def test_every_value_is_documented_and_every_documented_value_exists() -> None:
    names = documented()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    undocumented = {leaf for leaf in leaves(values) if not any(_covers(n, leaf) for n in names)}
    assert undocumented == set(), "add them to charts/atende/README.md"
    schema = json.loads((CHART / "values.schema.json").read_text())
    unknown = {name for name in names if not in_schema(name, schema)}
    assert unknown == set(), "documented in charts/atende/README.md but not a value"


def test_the_check_reads_the_table_as_written() -> None:
    names = documented()
    assert {"api.ingress.host", "api.ingress.hooks.limits.bodySize", "secrets.previousSecretKeys",
            "extraEnvFrom", "config", "image.digest"} <= names  # fmt: skip
    assert "host" not in names
    assert "config.*" not in names
    assert leaves({"a": {"b": 1, "c": {}}, "d": []}) == {"a.b", "a.c", "d"}
