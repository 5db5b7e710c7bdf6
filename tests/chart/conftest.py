"""The chart rendered once per scenario (``charts/atende/ci/*-values.yaml``) for the module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .render import hooks_as_plain_resources, render, values_file

Manifests = list[dict[str, Any]]


def _scenario(name: str, tmp: Path, **overrides: Any) -> Manifests:
    values = values_file(name) | {"migrations": {"hook": False}} | overrides
    return render(values, tmp)


@pytest.fixture(scope="session")
def keda(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    return _scenario("keda-values.yaml", tmp_path_factory.mktemp("keda"))


@pytest.fixture(scope="session")
def hpa(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    return _scenario("hpa-values.yaml", tmp_path_factory.mktemp("hpa"))


@pytest.fixture(scope="session")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    return _scenario("none-values.yaml", tmp_path_factory.mktemp("none"))


@pytest.fixture(scope="session")
def hooks(tmp_path_factory: pytest.TempPathFactory) -> Manifests:
    """The keda scenario with the migration hook on, hooks rendered as plain resources."""
    tmp = tmp_path_factory.mktemp("hooks")
    values = values_file("keda-values.yaml") | {"migrations": {"hook": True}}
    return render(values, tmp, hooks_as_plain_resources(tmp))


@pytest.fixture(scope="session")
def scenarios(keda: Manifests, hpa: Manifests, fixed: Manifests) -> dict[str, Manifests]:
    return {"keda": keda, "hpa": hpa, "none": fixed}
