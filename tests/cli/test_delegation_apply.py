"""``atende tenants apply -f`` and a field the panel owns (spec.delegation): the apply keeps the
panel's edit, says so in a line naming who edited it, and the dry run's diff shows the spec that
would be in force, not the file's value for that field."""

from __future__ import annotations

from pathlib import Path

from services.core.db import SessionMaker, transaction
from services.core.tenants import settings
from services.core.tenants.delegation import Delegable

from .conftest import TENANT_FILE, Cli

DELEGATED = (
    TENANT_FILE
    + """\
  knowledge:
    entries: [{question: "Qual o prazo?", answer: "%s"}]
  delegation: {panelOwns: [knowledge]}
"""
)


async def test_apply_keeps_the_panels_faq_and_says_so(
    atende: Cli, clean_db: SessionMaker, tmp_path: Path
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(DELEGATED % "Cinco dias.")
    assert atende("tenants", "apply", "-f", str(path)).code == 0
    entries = [{"question": "Qual o prazo?", "answer": "Dois dias."}]
    async with transaction(clean_db) as session:
        await settings.edit(
            session, "acme", Delegable.KNOWLEDGE, {"entries": entries},
            expected_version=0, actor="ana@acme.example",
        )  # fmt: skip

    path.write_text(DELEGATED % "Três dias.")
    planned = atende("tenants", "apply", "-f", str(path), "--dry-run")
    assert planned.code == 0, planned
    assert "Três dias." not in planned.out  # the file's FAQ would not be used
    assert "+  delegation" not in planned.out
    ran = atende("tenants", "apply", "-f", str(path))
    assert ran.code == 0, ran
    lines = ran.out.splitlines()
    assert lines[0] == "bottenant/acme updated (version 3)"
    assert lines[1].startswith("  spec.knowledge: edited in the panel (last by ana@acme.example, ")
    assert lines[1].endswith("Z); left as it is")
    shown = atende("tenants", "show", "acme", "-o", "json")
    assert "Dois dias." in shown.out
    assert "Três dias." not in shown.out
