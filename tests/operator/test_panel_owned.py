"""spec.delegation through the operator: a re-reconcile with another value for a field the
panel owns leaves the panel's edit in force and names it in status.panelOwned (who, when); the
timer keeps that list current after panel edits; a field taken out of panelOwns is the
resource's again."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest
from sqlalchemy import select

from atende_operator import panel_owned
from services.core.db import SessionMaker, transaction
from services.core.models import KnowledgeEntry, Tenant
from services.core.tenants import settings
from services.core.tenants.delegation import Delegable
from services.core.tenants.spec import BotTenantSpec

from .conftest import bottenant, tenant_spec
from .test_handlers import as_body, last_status, ready, reconcile

ADMIN = "ana@acme.example"


def spec(answer: str, owns: list[str], **overrides: Any) -> dict[str, Any]:
    return tenant_spec(
        knowledge={"entries": [{"question": "Formas de pagamento?", "answer": answer}]},
        delegation={"panelOwns": owns},
        **overrides,
    )


async def edit(sessionmaker: SessionMaker, field: Delegable, value: dict[str, Any]) -> None:
    async with transaction(sessionmaker) as session:
        await settings.edit(session, "acme", field, value, expected_version=0, actor=ADMIN)


async def stored(sessionmaker: SessionMaker) -> tuple[BotTenantSpec, list[str]]:
    async with sessionmaker() as session:
        row = await session.scalar(select(Tenant))
        assert row is not None
        answers = list(await session.scalars(select(KnowledgeEntry.answer)))
        return BotTenantSpec.model_validate(row.spec), answers


async def refresh(body: dict[str, Any], memo: kopf.Memo) -> dict[str, Any]:
    patch = kopf.Patch()
    meta = body["metadata"]
    await panel_owned.refresh(
        name=meta["name"], namespace=meta["namespace"], status=as_body(body).status,
        patch=patch, memo=memo,
    )  # fmt: skip
    return dict(patch.get("status", {}))


async def test_a_reconcile_leaves_the_panels_edit_and_reports_it(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    first = await reconcile(bottenant(spec("Pix.", ["knowledge"])), memo, logger)
    assert first["panelOwned"] == []
    body = bottenant(spec("Pix.", ["knowledge"]))
    body["status"] = first
    assert await refresh(body, memo) == {}  # nothing edited, nothing to patch

    entries = [{"question": "Formas de pagamento?", "answer": "Pix e cartão."}]
    await edit(clean_db, Delegable.KNOWLEDGE, {"entries": entries})
    refreshed = await refresh(body, memo)  # the timer, before any change of the resource
    [owned] = refreshed["panelOwned"]
    assert (owned["field"], owned["updatedBy"]) == ("knowledge", ADMIN)
    assert owned["updatedAt"].endswith("Z")

    status = await reconcile(bottenant(spec("Boleto.", ["knowledge"]), generation=2), memo, logger)
    assert status["panelOwned"] == refreshed["panelOwned"]
    message = ready(status)["message"]
    assert "edited in the panel (this resource's value not used): knowledge" in message
    in_force, answers = await stored(clean_db)
    assert [e.answer for e in in_force.knowledge.entries] == ["Pix e cartão."]
    assert answers == ["Pix e cartão."]


async def test_taken_out_of_panel_owns_the_resource_wins_again(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    await reconcile(bottenant(spec("Pix.", ["knowledge"])), memo, logger)
    entries = [{"question": "Formas de pagamento?", "answer": "Pix e cartão."}]
    await edit(clean_db, Delegable.KNOWLEDGE, {"entries": entries})
    status = await reconcile(bottenant(spec("Boleto.", []), generation=2), memo, logger)
    assert status["panelOwned"] == []
    assert "edited in the panel" not in ready(status)["message"]
    in_force, answers = await stored(clean_db)
    assert [e.answer for e in in_force.knowledge.entries] == ["Boleto."]
    assert answers == ["Boleto."]


async def test_a_resource_taking_away_what_an_edit_needs_is_refused(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    keywords = {"keywords": ["atendente"]}
    await reconcile(bottenant(spec("Pix.", ["messages"], handoff=keywords)), memo, logger)
    await edit(clean_db, Delegable.MESSAGES, {"noAnswer": 'Escreva "{palavra}".'})
    with pytest.raises(kopf.PermanentError):
        await reconcile(bottenant(spec("Pix.", ["messages"]), generation=2), memo, logger)
    status = last_status()
    assert status["phase"] == "Error"
    assert ready(status)["reason"] == "InvalidSpec"
    assert "spec.messages edited in the panel" in ready(status)["message"]
    in_force, _ = await stored(clean_db)
    assert in_force.handoff.keywords == ["atendente"]  # the last good spec stays
