"""Layering: core never depends on a process adapter or a web framework, api and worker stay
independent (the import-linter contracts in pyproject.toml), and nothing shadows ``operator``."""

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
