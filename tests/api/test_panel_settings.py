"""The settings page over HTTP: a tenant admin edits the FAQ and fixed messages its BotTenant
delegates (in pt-BR), a stale form is refused saying who saved first, refused values are
explained next to their field, and only that tenant's admins (and platform admins) may edit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select

from services.cli.admin import apply_file
from services.core.auth.roles import Role
from services.core.db import SessionMaker
from services.core.models import AuditEvent, KnowledgeEntry, Tenant
from tests.api.webhook_app import (
    TENANT,
    TENANT_YAML,
    RunningApp,
    make_settings,
    running_app,
    shop_and_other_with_users,
)

PASSWORD = "panel-settings-password-01"
USERS = {
    "platform": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "shop_admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
    "shop_viewer": ("viewer@shop.test", Role.VIEWER, TENANT),
    "other_admin": ("admin@other.test", Role.TENANT_ADMIN, "other"),
}
DELEGATED = (
    TENANT_YAML
    + """\
  knowledge:
    entries: [{question: "Qual o prazo de entrega?", answer: "Até 5 dias úteis."}]
  delegation: {panelOwns: [knowledge, messages]}
"""
)
PAGE = f"/panel/tenants/{TENANT}/settings"


@pytest_asyncio.fixture(loop_scope="session")
async def api(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> AsyncIterator[RunningApp]:
    await redis_client.flushall()
    settings = make_settings(database_url, redis_url, tmp_path, panel_secure_cookies=False)
    await shop_and_other_with_users(settings, clean_db, USERS, PASSWORD)
    await apply_file(settings, DELEGATED)
    async with running_app(settings) as app:
        yield app


class Browser:
    """One signed-in user's cookie and the CSRF token of the page it read last."""

    def __init__(self, api: RunningApp, cookie: str) -> None:
        self.api, self.headers, self.csrf = api, {"Cookie": f"atende_access={cookie}"}, ""

    async def get(self, path: str = PAGE) -> tuple[int, str]:
        response = await self.api.client.get(path, headers=self.headers)
        if 'name="csrf_token" value="' in response.text:
            self.csrf = response.text.split('name="csrf_token" value="')[1].split('"')[0]
        return response.status_code, response.text

    async def post(self, path: str, form: dict[str, str]) -> tuple[int, str, str]:
        response = await self.api.client.post(
            path, data={"csrf_token": self.csrf, **form}, headers=self.headers
        )
        return response.status_code, response.text, response.headers.get("location", "")


async def signed_in(api: RunningApp, who: str) -> Browser:
    response = await api.client.post(
        "/panel/login", data={"email": USERS[who][0], "password": PASSWORD}
    )
    return Browser(api, response.cookies["atende_access"])


async def answers(api: RunningApp) -> list[str]:
    async with api.state.sessionmaker() as session:
        return list(await session.scalars(select(KnowledgeEntry.answer)))


async def test_a_tenant_admin_edits_the_faq_and_the_page_says_who_did(api: RunningApp) -> None:
    admin = await signed_in(api, "shop_admin")
    assert f'href="{PAGE}"' in (await admin.get("/panel"))[1]  # from the tenants page
    status, page = await admin.get()
    assert status == 200
    assert "Perguntas frequentes" in page
    assert "Até 5 dias úteis." in page
    assert "Ainda não editado aqui" in page
    assert page.count("Gerenciado pela plataforma") == 1  # business hours stay the platform's
    assert 'name="timezone" value="America/Sao_Paulo" readonly' in page

    status, _, location = await admin.post(
        f"{PAGE}/knowledge/0",
        {"version": "0", "question": "Qual o prazo de entrega?", "answer": "Até 2 dias úteis."},
    )
    assert status == 303
    assert location.startswith(PAGE)
    assert await answers(api) == ["Até 2 dias úteis."]  # indexed for the next turn

    status, page = await admin.get(location)
    assert "Pergunta do FAQ salva" in page
    assert "Última alteração por admin@shop.test em" in page
    assert "(Horário de Brasília)" in page  # the tenant's zone, named
    history = page.split('id="history"')[1]
    assert "<del>Até 5 dias úteis.</del>" in history
    assert "<ins>Até 2 dias úteis.</ins>" in history

    status, _, _ = await admin.post(
        f"{PAGE}/knowledge", {"version": "1", "question": "Aceitam Pix?", "answer": "Sim."}
    )
    assert status == 303
    assert sorted(await answers(api)) == ["Até 2 dias úteis.", "Sim."]
    status, _, _ = await admin.post(f"{PAGE}/knowledge/1/delete", {"version": "2"})
    assert status == 303
    assert await answers(api) == ["Até 2 dias úteis."]
    async with api.state.sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.actor).where(AuditEvent.action == "tenant.settings")
            )
        )
    assert actions == ["admin@shop.test"] * 3


async def test_a_stale_form_is_refused_saying_who_saved_first(api: RunningApp) -> None:
    admin, root = await signed_in(api, "shop_admin"), await signed_in(api, "platform")
    await admin.get()
    await root.get()
    first = {"version": "0", "handoff": "Já chamei alguém da equipe."}
    assert (await admin.post(f"{PAGE}/messages", first))[0] == 303

    late = {"version": "0", "handoff": "Um atendente já vem.", "wait": "Só um instante."}
    status, page, _ = await root.post(f"{PAGE}/messages", late)
    assert status == 409
    assert "Não foi salvo: admin@shop.test alterou isto em" in page
    assert "Seu texto não salvo" in page
    assert "Um atendente já vem." in page.split("Seu texto não salvo")[1]
    assert ">Já chamei alguém da equipe.</textarea>" in page  # the version in force
    async with api.state.sessionmaker() as session:
        latest = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "tenant.settings")
        )
    assert latest is not None
    assert latest.details["changes"] == [
        {"what": "handoff", "before": None, "after": "Já chamei alguém da equipe."}
    ]


async def test_a_refused_value_is_explained_next_to_its_field(api: RunningApp) -> None:
    admin = await signed_in(api, "shop_admin")
    await admin.get()
    status, page, _ = await admin.post(
        f"{PAGE}/messages", {"version": "0", "handoff": "Olá {cliente}!", "wait": "Já volto."}
    )
    assert status == 422
    assert 'data-error="handoff"' in page
    assert "Marcador desconhecido" in page
    assert ">Olá {cliente}!</textarea>" in page  # what was typed is kept
    status, page, _ = await admin.post(
        f"{PAGE}/knowledge/0",
        {"version": "0", "question": "q" * 1001, "answer": "Até 5 dias úteis."},
    )
    assert status == 422
    assert 'data-error="question"' in page
    assert "Longo demais: no máximo 1.000 caracteres." in page
    assert await answers(api) == ["Até 5 dias úteis."]


async def test_only_the_tenants_admins_edit_and_only_what_is_delegated(api: RunningApp) -> None:
    viewer, stranger = await signed_in(api, "shop_viewer"), await signed_in(api, "other_admin")
    assert (await viewer.get())[0] == 403
    assert (await stranger.get())[0] == 404  # another tenant's name is not even confirmed
    await stranger.get("/panel")
    status, _, _ = await stranger.post(
        f"{PAGE}/knowledge", {"version": "0", "question": "Oi?", "answer": "Invadido."}
    )
    assert status == 404
    admin = await signed_in(api, "shop_admin")
    await admin.get()
    hours = {"version": "0", "timezone": "America/Manaus", "weekly.mon": "09:00-17:00"}
    assert (await admin.post(f"{PAGE}/businessHours", hours))[0] == 403
    admin.csrf = "forged"
    forged = {"version": "0", "question": "Oi?", "answer": "Forjado."}
    assert (await admin.post(f"{PAGE}/knowledge", forged))[0] == 403
    assert await answers(api) == ["Até 5 dias úteis."]


async def test_business_hours_are_edited_as_people_write_them(api: RunningApp) -> None:
    await apply_file(api.settings, DELEGATED.replace("messages]", "messages, businessHours]"))
    api.state.tenants.invalidate(TENANT)
    admin = await signed_in(api, "shop_admin")
    status, page = await admin.get()
    assert page.count("Gerenciado pela plataforma") == 0
    hours = {
        "version": "0",
        "timezone": "America/Manaus",
        "weekly.mon": "08:00-12:00, 13:00-18:00",
        "weekly.sat": "09:00-13:00",
        "holidays": "25/12/2026\n01/01/2027",
    }
    status, _, location = await admin.post(f"{PAGE}/businessHours", hours)
    assert status == 303
    async with api.state.sessionmaker() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == TENANT))
        assert tenant is not None
        stored = tenant.spec["businessHours"]
    assert stored == {
        "timezone": "America/Manaus",
        "weekly": {"mon": ["08:00-12:00", "13:00-18:00"], "sat": ["09:00-13:00"]},
        "holidays": ["2026-12-25", "2027-01-01"],
    }
    status, page = await admin.get(location)
    assert 'value="08:00-12:00, 13:00-18:00"' in page
    assert "25/12/2026\n01/01/2027" in page
    assert "Horário do Amazonas" in page  # times now in the tenant's new zone, named
    assert "<strong>Segunda-feira</strong>" in page.split('id="history"')[1]

    wrong = hours | {"version": "1", "weekly.tue": "8h-18h", "holidays": "31/02/2026"}
    status, page, _ = await admin.post(f"{PAGE}/businessHours", wrong)
    assert status == 422
    assert 'data-error="weekly"' in page
    assert "Use faixas HH:MM-HH:MM" in page
    assert 'data-error="holidays"' in page
    assert "Não é uma data: use dd/mm/aaaa" in page
    assert 'value="8h-18h"' in page  # what was typed is kept
