"""spec.delegation: a tenant's admins edit its FAQ, fixed messages and business hours in the
panel; a re-apply of the BotTenant never undoes an edit, two admins never overwrite each other
silently, what ``tenants apply`` would refuse is refused, and every edit is in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from services.core.audit.service import verify
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, KnowledgeEntry, Tenant, TenantOverlay
from services.core.tenants import settings
from services.core.tenants.changes import history
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.delegation import Delegable
from services.core.tenants.manifest import load_manifests
from services.core.tenants.overlay import OverlayRefused
from services.core.tenants.service import ApplyResult, apply_tenant
from services.core.tenants.spec import BotTenantSpec

KNOWLEDGE, MESSAGES, HOURS = Delegable.KNOWLEDGE, Delegable.MESSAGES, Delegable.BUSINESS_HOURS
ADMIN, OTHER_ADMIN = "ana@acme.example", "bruno@acme.example"

TEMPLATE = """\
apiVersion: v1
kind: Secret
metadata: {{name: acme, labels: {{atende.dev/tenant: acme}}}}
stringData: {{webhook-secret: hook-secret-one-0123456789abcdef}}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: acme}}
spec:
  displayName: ACME Telecom
  whaticket: {{connections: [{{name: main}}]}}
  webhook: {{secretRefs: [{{name: acme, key: webhook-secret}}]}}
  persona: {{systemPrompt: Você é a assistente da ACME.}}
  knowledge:
    entries: [{{question: "Formas de pagamento?", answer: "{answer}"}}]
  messages: {{handoff: "{handoff}"}}
  handoff: {{keywords: {keywords}}}
  businessHours: {{timezone: America/Sao_Paulo, weekly: {{mon: ["08:00-18:00"]}}}}
  delegation: {{panelOwns: {owns}}}
"""


def tenant_file(
    *,
    answer: str = "Pix e boleto.",
    handoff: str = "Chamei um atendente.",
    keywords: str = '["atendente"]',
    owns: str = "[knowledge, messages, businessHours]",
) -> str:
    return TEMPLATE.format(answer=answer, handoff=handoff, keywords=keywords, owns=owns)


async def apply(sessionmaker: SessionMaker, text: str) -> ApplyResult:
    (manifest,), secrets = load_manifests(text)
    async with transaction(sessionmaker) as session:
        return await apply_tenant(session, manifest, secrets, CredentialCipher("platform-key"))


async def edit(
    sessionmaker: SessionMaker,
    field: Delegable,
    value: dict[str, Any],
    *,
    version: int,
    actor: str = ADMIN,
) -> settings.Edited:
    async with transaction(sessionmaker) as session:
        return await settings.edit(
            session, "acme", field, value, expected_version=version, actor=actor
        )


async def stored(sessionmaker: SessionMaker) -> BotTenantSpec:
    async with sessionmaker() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert tenant is not None
        return BotTenantSpec.model_validate(tenant.spec)


async def indexed_answers(sessionmaker: SessionMaker) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.position))
        return [row.answer for row in rows]


def faq(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"entries": [{"question": q, "answer": a} for q, a in pairs]}


async def test_a_panel_edit_stays_in_force_when_the_bottenant_is_applied_again(
    clean_db: SessionMaker,
) -> None:
    await apply(clean_db, tenant_file())
    assert await indexed_answers(clean_db) == ["Pix e boleto."]

    edited = await edit(clean_db, KNOWLEDGE, faq(("Formas de pagamento?", "Só Pix.")), version=0)
    assert (edited.outcome, edited.version) == ("updated", 1)
    assert edited.knowledge_version  # the embedding job's key
    assert await indexed_answers(clean_db) == ["Só Pix."]  # the next turn searches this

    # The platform team changes the FAQ and another field in the resource.
    again = await apply(clean_db, tenant_file(answer="Cartão.", handoff="Um momento."))
    assert again.outcome == "updated"
    assert [(o.field, o.updated_by) for o in again.panel_owned] == [(KNOWLEDGE, ADMIN)]
    spec = await stored(clean_db)
    assert [e.answer for e in spec.knowledge.entries] == ["Só Pix."]
    assert spec.messages.handoff == "Um momento."  # delegated but never edited: seeded
    assert await indexed_answers(clean_db) == ["Só Pix."]

    same = await apply(clean_db, tenant_file(answer="Cartão.", handoff="Um momento."))
    assert same.outcome == "unchanged"  # a panel edit is not a change of the resource
    assert await indexed_answers(clean_db) == ["Só Pix."]
    status = same.panel_owned[0].status()
    assert status["field"] == "knowledge"
    assert status["updatedBy"] == ADMIN
    assert status["updatedAt"].endswith("Z")


async def test_a_second_admin_saving_over_an_unseen_edit_gets_a_conflict(
    clean_db: SessionMaker,
) -> None:
    await apply(clean_db, tenant_file())
    first = {"handoff": "Já chamei alguém da equipe.", "wait": "Um instante!"}
    assert (await edit(clean_db, MESSAGES, first, version=0)).version == 1

    with pytest.raises(settings.EditConflict) as refused:
        await edit(clean_db, MESSAGES, {"handoff": "Outro texto."}, version=0, actor=OTHER_ADMIN)
    assert refused.value.status_code == 409
    assert refused.value.owned.updated_by == ADMIN
    assert (await stored(clean_db)).messages.handoff == "Já chamei alguém da equipe."

    # Having seen version 1, the second admin's edit goes through.
    second = await edit(
        clean_db, MESSAGES, {"handoff": "Outro texto."}, version=1, actor=OTHER_ADMIN
    )
    assert second.version == 2
    assert (await stored(clean_db)).messages.wait is None


async def test_what_tenants_apply_would_refuse_is_refused_naming_the_field(
    clean_db: SessionMaker,
) -> None:
    await apply(clean_db, tenant_file(keywords="[]"))
    cases: list[tuple[Delegable, dict[str, Any], str, str]] = [
        (MESSAGES, {"handoff": "Olá {cliente}"}, "handoff", "placeholder"),
        (MESSAGES, {"fallback": "Em {minutos} minutos"}, "fallback", "wait_only"),
        (MESSAGES, {"noAnswer": 'Escreva "{palavra}".'}, "noAnswer", "needs_keyword"),
        (KNOWLEDGE, faq(("Oi?", "x" * 4001)), "entries.0.answer", "string_too_long"),
        (KNOWLEDGE, faq(("", "Resposta")), "entries.0.question", "string_too_short"),
        (KNOWLEDGE, faq(*[(f"P{i}?", "R") for i in range(5001)]), "entries", "too_long"),
        (HOURS, {"weekly": {"mon": ["8h-18h"]}}, "weekly", "hours_range"),
        (HOURS, {"timezone": "America/Atlantida"}, "timezone", "timezone"),
        (HOURS, {"holidays": ["25/12/2026"]}, "holidays.0", "date_from_datetime_parsing"),
    ]
    for field, value, path, kind in cases:
        with pytest.raises(settings.SettingsInvalid) as refused:
            await edit(clean_db, field, value, version=0)
        found = [(p.path.split(".mon")[0], p.kind) for p in refused.value.problems]
        assert (path, kind) in found, (value, refused.value.problems)
    too_long = await _problem(clean_db, KNOWLEDGE, faq(("Oi?", "x" * 4001)))
    assert too_long.limit == 4000
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(TenantOverlay)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def _problem(
    sessionmaker: SessionMaker, field: Delegable, value: dict[str, Any]
) -> settings.Problem:
    with pytest.raises(settings.SettingsInvalid) as refused:
        await edit(sessionmaker, field, value, version=0)
    return refused.value.problems[0]


async def test_a_field_the_platform_keeps_cannot_be_edited(clean_db: SessionMaker) -> None:
    await apply(clean_db, tenant_file(owns="[knowledge]"))
    with pytest.raises(settings.NotDelegated):
        await edit(clean_db, HOURS, {"timezone": "America/Manaus"}, version=0)
    assert (await stored(clean_db)).business_hours.timezone == "America/Sao_Paulo"


async def test_every_edit_is_in_the_history_with_what_it_replaced(clean_db: SessionMaker) -> None:
    await apply(clean_db, tenant_file())
    await edit(clean_db, KNOWLEDGE, faq(("Formas de pagamento?", "Só Pix.")), version=0)
    hours = {"timezone": "America/Manaus", "weekly": {"mon": ["09:00-17:00"]}, "holidays": []}
    await edit(clean_db, HOURS, hours, version=0, actor=OTHER_ADMIN)
    async with clean_db() as session:
        tenant_id = await session.scalar(select(Tenant.id))
        assert tenant_id is not None
        found = await history(session, tenant_id)
        assert (await verify(session)).ok  # hash-chained, as every audit event
    newest, oldest = found
    assert (newest.actor, newest.field, newest.version) == (OTHER_ADMIN, "businessHours", 1)
    assert {"what": "timezone", "before": "America/Sao_Paulo", "after": "America/Manaus"} in (
        newest.items
    )
    assert {"what": "weekly.mon", "before": "08:00-18:00", "after": "09:00-17:00"} in newest.items
    assert (oldest.actor, oldest.field) == (ADMIN, "knowledge")
    assert oldest.items == [
        {"what": "Formas de pagamento?", "before": "Pix e boleto.", "after": "Só Pix."}
    ]


async def test_taken_out_of_panel_owns_the_resource_wins_again(clean_db: SessionMaker) -> None:
    await apply(clean_db, tenant_file())
    await edit(clean_db, KNOWLEDGE, faq(("Formas de pagamento?", "Só Pix.")), version=0)
    await edit(clean_db, MESSAGES, {"handoff": "Texto do painel."}, version=0)

    returned = await apply(clean_db, tenant_file(answer="Cartão.", owns="[messages]"))
    assert [o.field for o in returned.panel_owned] == [MESSAGES]
    spec = await stored(clean_db)
    assert [e.answer for e in spec.knowledge.entries] == ["Cartão."]
    assert spec.messages.handoff == "Texto do painel."
    assert await indexed_answers(clean_db) == ["Cartão."]
    async with clean_db() as session:
        fields = list(await session.scalars(select(TenantOverlay.field)))
        tenant_id = await session.scalar(select(Tenant.id))
        assert tenant_id is not None
        latest = (await history(session, tenant_id))[0]
    assert fields == ["messages"]  # the FAQ's overlay was dropped
    assert (latest.returned, latest.field, latest.actor) == (True, "knowledge", "apply:file")

    # Delegated again, the resource's value seeds the panel afresh.
    await apply(clean_db, tenant_file(answer="Cartão."))
    async with clean_db() as session:
        tenant = await session.scalar(select(Tenant))
        assert tenant is not None
        now = await settings.read_settings(session, tenant)
    assert now[KNOWLEDGE].version == 0
    assert now[KNOWLEDGE].value == faq(("Formas de pagamento?", "Cartão."))


async def test_a_resource_taking_away_what_an_edit_relies_on_is_refused(
    clean_db: SessionMaker,
) -> None:
    await apply(clean_db, tenant_file())
    await edit(clean_db, MESSAGES, {"noAnswer": 'Escreva "{palavra}".'}, version=0)
    with pytest.raises(OverlayRefused) as refused:
        await apply(clean_db, tenant_file(keywords="[]"))
    assert "spec.messages edited in the panel" in refused.value.message
    assert (await stored(clean_db)).handoff.keywords == ["atendente"]  # nothing applied


async def test_an_edit_of_the_same_value_changes_nothing(clean_db: SessionMaker) -> None:
    await apply(clean_db, tenant_file())
    same = await edit(
        clean_db, KNOWLEDGE, faq(("Formas de pagamento?", "Pix e boleto.")), version=0
    )
    assert (same.outcome, same.version) == ("unchanged", 0)
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(TenantOverlay)) == 0
