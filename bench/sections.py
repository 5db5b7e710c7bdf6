"""Rewriting one section of docs/benchmarks.md (and its key of benchmarks.json), for the steps
``python -m bench --only <step>`` runs alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def record_section(
    title: str, lines: list[str], key: str, result: dict[str, Any], docs: Path
) -> None:
    """Replace the section headed ``title`` (or add it before "Where the time goes")."""
    md = docs / "benchmarks.md"
    text = md.read_text()
    body = "\n".join(lines)
    if title in text:
        before, rest = text.split(title, 1)
        after = rest[rest.find("\n## ") + 1 :] if "\n## " in rest else ""
        text = before + body + "\n" + after
    else:
        marker = "Where the time goes"
        head, sep, tail = text.partition(marker)
        text = head + body + "\n" + sep + tail if sep else text + "\n" + body + "\n"
    md.write_text(text)
    raw = docs / "benchmarks.json"
    data = json.loads(raw.read_text()) if raw.exists() else {}
    raw.write_text(json.dumps(data | {key: result}, indent=2) + "\n")
