"""``helm lint`` with Helm's own library: the chart and each CI scenario's values."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from .render import CHART, lint


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of ``-f`` values over the defaults: maps merge, anything else replaces."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = _merged(base[key], value)
        else:
            merged[key] = value
    return merged


def _copy_with(values_name: str | None, tmp: Path) -> Path:
    """A copy of the chart whose values.yaml is the defaults merged with one scenario's."""
    copy = tmp / "atende"
    shutil.copytree(CHART, copy)
    if values_name is not None:
        defaults = yaml.safe_load((CHART / "values.yaml").read_text())
        values = _merged(defaults, yaml.safe_load((CHART / "ci" / values_name).read_text()))
        (copy / "values.yaml").write_text(yaml.safe_dump(values))
    return copy


def _problems(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in result["Messages"] if m["Severity"] >= 2]


@pytest.mark.parametrize("scenario", ["keda-values.yaml", "hpa-values.yaml", "none-values.yaml"])
def test_the_chart_lints_clean(scenario: str, tmp_path: Path) -> None:
    assert _problems(lint(_copy_with(scenario, tmp_path))) == []


def test_lint_catches_a_broken_template_and_a_bad_value(tmp_path: Path) -> None:
    broken = _copy_with("keda-values.yaml", tmp_path)
    (broken / "templates" / "broken.yaml").write_text("kind: {{ .Values.nope | oops }}\n")
    assert any(m["Severity"] == 3 for m in lint(broken)["Messages"])
    (broken / "templates" / "broken.yaml").unlink()
    values = yaml.safe_load((broken / "values.yaml").read_text())
    values["autoscaling"]["mode"] = "sometimes"  # values.schema.json: keda | hpa | none
    (broken / "values.yaml").write_text(yaml.safe_dump(values))
    assert any(m["Severity"] == 3 for m in lint(broken)["Messages"])
