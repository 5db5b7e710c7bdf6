"""Every change of a stored message's status is made in ``services/core/outbound/records.py``:
a turn's reply and a workflow's message move through the same transitions, so a rule about them
(what "unknown" means, when a message may be claimed) is written once. Checked on the source:
no other module of ``services/`` builds an ``update(OutboundMessage)`` statement."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OWNER = Path("services/core/outbound/records.py")


def status_updates(root: Path) -> list[str]:
    """``path:line`` of every ``update(OutboundMessage)`` under ``root/services``."""
    found = []
    for path in sorted((root / "services").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "update"
                and any(isinstance(a, ast.Name) and a.id == "OutboundMessage" for a in node.args)
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_only_the_records_module_changes_a_stored_message() -> None:
    elsewhere = [hit for hit in status_updates(ROOT) if not hit.startswith(f"{OWNER}:")]
    assert elsewhere == [], "update(OutboundMessage) outside outbound/records.py"
    assert status_updates(ROOT), "the records module itself must be found"


def test_the_check_sees_an_update_planted_elsewhere(tmp_path: Path) -> None:
    """A control: an ``update(OutboundMessage)`` in another module is reported."""
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "rogue.py").write_text(
        "from sqlalchemy import update\n\nq = update(OutboundMessage).values(status='sent')\n"
    )
    assert status_updates(tmp_path) == ["services/rogue.py:3"]
