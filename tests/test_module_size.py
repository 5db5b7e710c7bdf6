"""Module size: no module of ``services/`` or ``operator/`` grows past 400 lines, so a file stays
one job a reader can hold in mind; `make lint` fails the day one does."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 400
PACKAGES = ("services", "operator")


def line_count(path: Path) -> int:
    """Lines as ``wc -l`` counts them: newline characters."""
    return path.read_bytes().count(b"\n")


def oversized(root: Path, limit: int = LIMIT) -> dict[str, int]:
    """Every ``*.py`` under ``root`` longer than ``limit`` lines, by path relative to ``root``."""
    counts = {path: line_count(path) for path in sorted(root.rglob("*.py"))}
    return {str(path.relative_to(root)): n for path, n in counts.items() if n > limit}


def test_no_module_is_over_the_limit() -> None:
    offenders = {
        f"{package}/{name}": n
        for package in PACKAGES
        for name, n in oversized(ROOT / package).items()
    }
    listing = ", ".join(f"{name} ({n} lines)" for name, n in offenders.items())
    assert not offenders, f"modules over {LIMIT} lines: {listing}"


def test_the_counter_sees_a_module_one_line_too_long(tmp_path: Path) -> None:
    """A control: a 401-line module is reported, a 400-line one is not."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "pkg" / "fits.py").write_text("x = 1\n" * LIMIT)
    assert oversized(tmp_path) == {"pkg/long.py": LIMIT + 1}
