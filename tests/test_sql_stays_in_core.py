"""SQL stays in core: no route, page, command, job or operator handler writes a query.

A query outside ``services/core`` is one its domain's tests never see and the next schema change
forgets, so every one lives in a repository or service function of its domain (a health check's
``SELECT 1`` too: :func:`services.core.db.ping`). Outside ``services/core``, under ``services/``
and ``operator/``, this fails, naming file and line, for:

* an import from sqlalchemy other than the three a process adapter legitimately needs:
  ``sqlalchemy.ext.asyncio`` (``AsyncSession``/``AsyncEngine`` as types, the engine it disposes),
  ``sqlalchemy.exc`` (mapping a database error to an answer or a retry) and ``sqlalchemy.engine``
  (``make_url``, to name the database in an error). So ``select``, ``update``, ``delete``,
  ``insert``, ``text``, ``func`` — from ``sqlalchemy``, ``sqlalchemy.sql``,
  ``sqlalchemy.dialects.postgresql`` or anywhere else — and a bare ``import sqlalchemy`` fail;
* a call of ``.execute(…)``, ``.scalar(…)`` or ``.scalars(…)`` with an argument (a statement);
  Redis's argument-less ``pipe.execute()`` is not SQL.

The transaction stays with the adapter: ``transaction(sessionmaker)`` around core calls is the
request's or the command's boundary; core flushes, never commits. ``migrations/`` is outside
``services/`` and is not scanned.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("services", "operator")
CORE = ROOT / "services" / "core"
ALLOWED_MODULES = frozenset({"sqlalchemy.ext.asyncio", "sqlalchemy.exc", "sqlalchemy.engine"})
STATEMENT_CALLS = frozenset({"execute", "scalar", "scalars"})


def _is_sqlalchemy(module: str) -> bool:
    return module == "sqlalchemy" or module.startswith("sqlalchemy.")


def violations_in(path: Path, root: Path) -> list[str]:
    """``file:line: what`` for each query-building import or statement call in ``path``."""
    where = path.relative_to(root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _is_sqlalchemy(node.module) and node.module not in ALLOWED_MODULES:
                names = ", ".join(alias.name for alias in node.names)
                found.append(f"{where}:{node.lineno}: from {node.module} import {names}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_sqlalchemy(alias.name) and alias.name not in ALLOWED_MODULES:
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in STATEMENT_CALLS
            and (node.args or node.keywords)
        ):
            found.append(f"{where}:{node.lineno}: .{node.func.attr}(…) with a statement")
    return found


def sql_outside_core(root: Path, packages: tuple[str, ...], core: Path) -> list[str]:
    """Every violation in the ``*.py`` files of ``packages`` (under ``root``) not under ``core``,
    named relative to ``root``."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if not path.is_relative_to(core):
                found += violations_in(path, root)
    return found


def test_no_sql_outside_core() -> None:
    found = sql_outside_core(ROOT, SCANNED, CORE)
    assert not found, "SQL outside services/core (move it to its domain):\n" + "\n".join(found)


def test_the_checker_sees_planted_queries(tmp_path: Path) -> None:
    """A control: every kind of violation is reported with its line; what is allowed is not,
    and nothing under core is."""
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "repo.py").write_text(
        "from sqlalchemy import select\nasync def f(s):\n    return await s.scalar(select(1))\n"
    )
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "route.py").write_text(
        "from sqlalchemy import select, text\n"  # 1
        "from sqlalchemy.dialects.postgresql import insert\n"  # 2
        "from sqlalchemy.sql import func\n"  # 3
        "import sqlalchemy as sa\n"  # 4
        "from sqlalchemy.ext.asyncio import AsyncSession\n"  # 5: allowed
        "from sqlalchemy.exc import DBAPIError\n"  # 6: allowed
        "from sqlalchemy.engine import make_url\n"  # 7: allowed
        "async def f(session: AsyncSession, conn, pipe):\n"  # 8
        "    await session.execute(text('SELECT 1'))\n"  # 9
        "    await session.scalars(statement=select(1))\n"  # 10
        "    await conn.scalar(sa.select(1))\n"  # 11
        "    await pipe.execute()\n"  # 12: Redis, allowed
    )
    assert sql_outside_core(tmp_path, ("core", "api"), tmp_path / "core") == [
        "api/route.py:1: from sqlalchemy import select, text",
        "api/route.py:2: from sqlalchemy.dialects.postgresql import insert",
        "api/route.py:3: from sqlalchemy.sql import func",
        "api/route.py:4: import sqlalchemy",
        "api/route.py:9: .execute(…) with a statement",
        "api/route.py:10: .scalars(…) with a statement",
        "api/route.py:11: .scalar(…) with a statement",
    ]
