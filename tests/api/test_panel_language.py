"""The panel in pt-BR first and in English: who decides (the user's profile, then the sign-in
page's pick, then Accept-Language, then pt-BR), ``<html lang>`` and ``Content-Language``
matching, times as dd/mm/aaaa in the tenant's own time zone saying which, numbers and money in
the reader's format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
import redis.asyncio as aioredis
from sqlalchemy import select, text, update

from services.api.locale import set_locale
from services.api.panel.templating import templates
from services.core.audit import service as audit
from services.core.auth.roles import Role
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, Tenant, User
from tests.api.webhook_app import (
    TENANT,
    RunningApp,
    make_settings,
    running_app,
    shop_and_other_with_users,
)

PASSWORD = "panel-language-password-01"
USERS = {
    "root": ("root@atende.test", Role.PLATFORM_ADMIN, None),
    "admin": ("admin@shop.test", Role.TENANT_ADMIN, TENANT),
}
PAGES_PT = {
    "/panel/audit": "Registro de auditoria",
    "/panel/dead-letters": "Nenhuma falha. 🎉",
    "/panel/events": "Eventos de automação",
    "/panel/simulator": "Simulador de conversa",
    "/panel/profile": "Idioma do painel",
}
PAGES_EN = {
    "/panel/audit": "Audit log",
    "/panel/dead-letters": "Nothing failed. 🎉",
    "/panel/events": "Workflow events",
    "/panel/simulator": "Chat simulator",
    "/panel/profile": "Language of the panel",
}
# 17:05 UTC on 4 Dec 2026 is 02:05 on the 5th in Tokyo, 14:05 on the 4th in São Paulo.
STORED_AT = datetime(2026, 12, 4, 17, 5, tzinfo=UTC)


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
    async with running_app(settings) as app:
        yield app


async def sign_in(api: RunningApp, who: str) -> dict[str, str]:
    signed = await api.client.post(
        "/panel/login", data={"email": USERS[who][0], "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    return {"Cookie": f"atende_access={signed.cookies['atende_access']}"}


def csrf_of(page: str) -> str:
    return page.split('name="csrf_token" value="')[1].split('"')[0]


async def get(api: RunningApp, path: str, **headers: str) -> Any:
    response = await api.client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def test_pages_are_pt_br_by_default_and_english_when_the_browser_asks(
    api: RunningApp,
) -> None:
    login = await get(api, "/panel/login")
    assert '<html lang="pt-BR">' in login.text
    assert login.headers["content-language"] == "pt-BR"
    assert "<title>Entrar · Atende</title>" in login.text
    assert "Senha" in login.text

    cookie = (await sign_in(api, "root"))["Cookie"]
    for path, words in PAGES_PT.items():
        page = await get(api, path, Cookie=cookie)
        assert '<html lang="pt-BR">' in page.text, path
        assert page.headers["content-language"] == "pt-BR", path
        assert words in page.text, path
        assert ">Sair</button>" in page.text, path
        assert "<span>· Administrador da plataforma</span>" in page.text, path
    for path, words in PAGES_EN.items():
        page = await get(api, path, Cookie=cookie, **{"Accept-Language": "en-US,en;q=0.9"})
        assert '<html lang="en">' in page.text, path
        assert page.headers["content-language"] == "en", path
        assert words in page.text, path
        assert ">Sign out</button>" in page.text, path
        assert "<span>· Platform admin</span>" in page.text, path

    # Portuguese of Portugal reads as pt-BR; a language we do not speak falls back to pt-BR,
    # unless English is among the browser's second choices.
    for header, lang in (("pt-PT", "pt-BR"), ("fr-FR", "pt-BR"), ("fr-FR,en;q=0.5", "en")):
        page = await get(api, "/panel/login", **{"Accept-Language": header})
        assert f'<html lang="{lang}">' in page.text, header


async def test_a_wrong_password_is_said_in_the_readers_language(api: RunningApp) -> None:
    form = {"email": USERS["root"][0], "password": "not-the-password-at-all"}
    pt = await api.client.post("/panel/login", data=form)
    assert pt.status_code == 401
    assert "E-mail ou senha incorretos." in pt.text
    en = await api.client.post("/panel/login", data=form, headers={"Accept-Language": "en"})
    assert "Wrong e-mail or password." in en.text


async def test_the_sign_in_pages_language_link_is_remembered_by_the_browser(
    api: RunningApp,
) -> None:
    picked = await api.client.get("/panel/login?lang=en&next=/panel/audit")
    assert '<html lang="en">' in picked.text
    assert picked.cookies["atende_lang"] == "en"
    assert 'href="/panel/login?lang=pt_BR&amp;next=/panel/audit"' in picked.text
    again = await api.client.get("/panel/login", headers={"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in again.text  # the client kept the cookie
    back = await api.client.get("/panel/login?lang=pt_BR")
    assert '<html lang="pt-BR">' in back.text
    ignored = await api.client.get("/panel/login?lang=xx")
    assert ignored.status_code == 200
    assert '<html lang="pt-BR">' in ignored.text


async def test_the_users_profile_choice_beats_the_browser_and_follows_them(
    api: RunningApp,
) -> None:
    cookies = await sign_in(api, "admin")
    english_browser = {"Accept-Language": "en-US"}
    profile = await get(api, "/panel/profile", **cookies, **english_browser)
    assert "My browser's language (now English)" in profile.text

    refused = await api.client.post(
        "/panel/profile/language",
        data={"locale": "en", "csrf_token": "forged"},
        headers=cookies,
    )
    assert refused.status_code == 403
    assert '<html lang="pt-BR">' in refused.text
    assert "O formulário expirou ou não veio deste painel" in refused.text

    saved = await api.client.post(
        "/panel/profile/language",
        data={"locale": "pt_BR", "csrf_token": csrf_of(profile.text)},
        headers=cookies | english_browser,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/panel/profile?flash=Idioma%20salvo."
    for path, words in PAGES_PT.items():  # the browser asks for English; the user chose pt-BR
        page = await get(api, path, **cookies, **english_browser)
        assert '<html lang="pt-BR">' in page.text, path
        assert words in page.text, path

    await api.client.post(
        "/panel/profile/language",
        data={"locale": "en", "csrf_token": csrf_of(profile.text)},
        headers=cookies,
    )
    api.client.cookies.clear()  # another device: no language cookie, a Portuguese browser
    elsewhere = await sign_in(api, "admin")
    page = await get(api, "/panel/audit", **elsewhere, **{"Accept-Language": "pt-BR"})
    assert '<html lang="en">' in page.text
    assert "Audit log" in page.text

    async with api.state.sessionmaker() as session:
        stored = await session.scalar(select(User.locale).where(User.email == USERS["admin"][0]))
        changes = list(
            await session.scalars(
                select(AuditEvent.details).where(AuditEvent.action == "user.locale_changed")
            )
        )
    assert stored == "en"
    assert [c["locale"] for c in changes] == ["pt_BR", "en"]
    assert all(c["email"] == USERS["admin"][0] for c in changes)

    forget = await api.client.post(
        "/panel/profile/language",
        data={"locale": "", "csrf_token": csrf_of(page.text)},
        headers=elsewhere | {"Accept-Language": "pt-BR"},
    )
    assert forget.headers["location"] == "/panel/profile?flash=Idioma%20salvo."
    page = await get(api, "/panel/audit", **elsewhere, **{"Accept-Language": "pt-BR"})
    assert '<html lang="pt-BR">' in page.text


async def test_times_are_dd_mm_yyyy_in_the_tenants_own_time_zone(api: RunningApp) -> None:
    async with transaction(api.state.sessionmaker) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == TENANT))
        assert tenant is not None
        spec = dict(tenant.spec)
        spec["businessHours"] = {**spec.get("businessHours", {}), "timezone": "Asia/Tokyo"}
        await session.execute(update(Tenant).where(Tenant.id == tenant.id).values(spec=spec))
        event = await audit.record(
            session, actor="cli:ana", action="tenant.pause", tenant_id=tenant.id,
            details={"reason": "zone test"},
        )  # fmt: skip
        platform = await audit.record(
            session, actor="cli:ana", action="secrets.reencrypt", tenant_id=None, details={}
        )
    async with transaction(api.state.sessionmaker) as session:  # as if stored at that instant
        await session.execute(text("SET LOCAL session_replication_role = replica"))
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.id.in_([event.id, platform.id]))
            .values(at=STORED_AT)
        )

    admin = await sign_in(api, "admin")
    page = (await get(api, "/panel/audit?action=tenant.pause", **admin)).text
    assert (
        '<time datetime="2026-12-04T17:05:00+00:00" title="Horário do Japão (Asia/Tokyo)">'
        "05/12/2026 02:05</time>"
    ) in page
    assert "Fuso horário: Horário do Japão" in page
    english = await get(
        api, "/panel/audit?action=tenant.pause", **admin, **{"Accept-Language": "en"}
    )
    assert ">Dec 5, 2026, 2:05\u202fAM</time>" in english.text  # CLDR's narrow space
    assert "Time zone: Japan Time" in english.text

    # A platform admin sees tenants of two zones: each time in its tenant's, the page says so;
    # the platform's own rows are in Brasília time.
    root = await sign_in(api, "root")
    page = (await get(api, "/panel/audit", **root)).text
    assert "Horários no fuso de cada empresa" in page
    assert 'title="Horário do Japão (Asia/Tokyo)">05/12/2026 02:05</time>' in page
    assert 'title="Horário de Brasília (America/Sao_Paulo)">04/12/2026 14:05</time>' in page


def test_numbers_and_money_follow_the_language() -> None:
    shown = templates.env.from_string(
        "{{ money|currency }} | {{ count|number }} | {{ share|percent }} | "
        "{{ share|percent(1) }} | {{ rate|number(2) }} | {{ none|when }}"
    )
    values = {"money": 1234.56, "count": 1234567, "share": 0.256, "rate": 2.5, "none": None}
    set_locale("pt_BR")  # the space after R$ does not break: a no-break space
    assert shown.render(values) == "R$\xa01.234,56 | 1.234.567 | 26% | 25,6% | 2,50 | —"
    set_locale("en")
    assert shown.render(values) == "R$1,234.56 | 1,234,567 | 26% | 25.6% | 2.50 | —"
    set_locale("pt_BR")
