"""Layering: core never depends on a process adapter or a web framework, its domains import each
other without cycles and stand on floors, api and worker stay independent, /api/v1 never reaches
into the panel's pages (the import-linter contracts in pyproject.toml), and nothing shadows
``operator``."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def declared_contracts() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [c["name"] for c in config["tool"]["importlinter"]["contracts"]]


# Every contract by name: deleting or renaming one fails here, not silently in review.
PINNED_CONTRACTS = (
    "core never imports a process adapter or a web framework",
    "core domains import each other without cycles",
    "core domains stand on floors, top to bottom",
    "api and worker are independent",
    "the operator imports nothing from services.api or services.worker",
    "routes never import the panel's pages",
)


def contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name)


def test_every_pinned_contract_is_declared() -> None:
    assert set(PINNED_CONTRACTS) <= set(declared_contracts())


def test_core_is_acyclic_and_every_child_stands_on_a_floor() -> None:
    acyclic = contract("core domains import each other without cycles")
    assert acyclic["type"] == "acyclic_siblings"
    assert acyclic["ancestors"] == ["services.core"]
    floors = contract("core domains stand on floors, top to bottom")
    assert floors["type"] == "layers"
    assert floors["containers"] == ["services.core"]
    assert floors["exhaustive"] is True
    layers = floors["layers"]
    assert isinstance(layers, list)
    placed = {name.strip() for layer in layers for name in layer.replace(":", "|").split("|")}
    core = ROOT / "services" / "core"
    children = {p.stem for p in core.glob("*.py") if p.stem != "__init__"}
    children |= {p.name for p in core.iterdir() if (p / "__init__.py").exists()}
    assert placed == children


def test_the_pinned_contracts_are_declared() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")
    assert forbidden["source_modules"] == ["services.core"]
    assert {"services.api", "services.worker", "fastapi", "starlette"} <= set(
        forbidden["forbidden_modules"]
    )
    independence = next(c for c in contracts if c["type"] == "independence")
    assert set(independence["modules"]) == {"services.api", "services.worker"}


def test_routes_reach_no_panel_page() -> None:
    """/api/v1 shares the panel's operations through services.api.operations, not its pages."""
    routes = contract("routes never import the panel's pages")
    assert routes["type"] == "forbidden"
    assert routes["source_modules"] == ["services.api.routes"]
    assert routes["forbidden_modules"] == ["services.api.panel"]


def test_import_contracts_are_kept() -> None:
    result = lint_imports()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    names = declared_contracts()
    for name in names:
        assert f"{name} KEPT" in output, output
    assert f"Contracts: {len(names)} kept, 0 broken." in output


def test_the_linter_really_sees_imports(tmp_path: Path) -> None:
    """A control: a contract the code is known to break must be reported broken."""
    config = tmp_path / "broken.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["services"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "control: api never imports core"\n'
        'type = "forbidden"\n'
        'source_modules = ["services.api"]\n'
        'forbidden_modules = ["services.core"]\n'
    )
    result = lint_imports(str(config))
    assert result.returncode != 0
    assert "control: api never imports core BROKEN" in result.stdout


def test_no_package_named_operator_shadows_the_standard_library() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists()
    assert not (ROOT / "operator.py").exists()
