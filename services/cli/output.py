"""How list commands print: an aligned table for people, ``-o json`` for scripts.

Both views come from the same columns, so a column in the table is always a key in the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import click
import yaml

Record = Mapping[str, Any]
Getter = Callable[[Any], Any]


def output_option[F: Callable[..., Any]](command: F) -> F:
    """``-o/--output table|json``, as kubectl and helm spell it."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="json: one array of objects, timestamps in ISO 8601",
    )(command)


@dataclass(frozen=True, slots=True)
class Column:
    """``key`` in JSON, ``header`` in the table; the value is the row's attribute ``key`` unless
    ``value`` says otherwise. A column without a header is in the JSON only."""

    key: str
    header: str = ""
    width: int = 0  # 0: not padded (the last column)
    value: Getter | None = None

    def of(self, row: Any) -> Any:
        return self.value(row) if self.value else getattr(row, self.key)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return str(value)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def emit_one(record: Record, output: str) -> None:
    """One object (a ``show`` command): YAML for people, as ``kubectl get -o yaml`` reads."""
    if output == "json":
        click.echo(json.dumps(record, indent=2, ensure_ascii=False, default=_json_default))
    else:
        plain = json.loads(json.dumps(record, default=_json_default))
        click.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), nl=False)


def emit(
    rows: Sequence[Any],
    columns: Sequence[Column],
    output: str,
    *,
    note: Callable[[Record], str | None] | None = None,
) -> None:
    """Print ``rows``; ``note`` adds an indented line under a table row (in JSON the record
    already carries it)."""
    records = [{col.key: col.of(row) for col in columns} for row in rows]
    if output == "json":
        click.echo(json.dumps(records, indent=2, ensure_ascii=False, default=_json_default))
        return
    shown = [col for col in columns if col.header]

    def line(cells: Sequence[str]) -> str:
        return " ".join(f"{c:<{col.width}}" for c, col in zip(cells, shown, strict=True)).rstrip()

    click.echo(line([col.header for col in shown]))
    for record in records:
        click.echo(line([_cell(record[col.key]) for col in shown]))
        extra = note(record) if note else None
        if extra:
            click.echo(f"       {extra}")
