"""``atende tenants apply -f`` refuses a tenant's message template it could not render
safely, or one that promises what the tenant has not configured, naming the field; nothing is
written."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.db import SessionMaker

from .conftest import TENANT_FILE, Cli
from .test_commands import _counts


@pytest.mark.parametrize(
    ("messages", "says"),
    [
        ('{handoff: "Já chamo {atendente}."}', "spec.messages.handoff: unknown placeholder"),
        ('{blocked: "{empresa.__class__}"}', "spec.messages.blocked: unknown placeholder"),
        ('{fallback: "Espere {minutos} min"}', "spec.messages.fallback: unknown placeholder"),
        ("{noAnswer: 'Escreva \"{palavra}\".'}", "messages.noAnswer: {palavra} names a handoff"),
    ],
    ids=["unknown", "attribute", "wait-only", "no-keyword"],
)
async def test_a_bad_message_template_is_refused_naming_the_field(
    atende: Cli, clean_db: SessionMaker, tmp_path: Path, messages: str, says: str
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(TENANT_FILE + f"  messages: {messages}\n")
    for flags in (["--dry-run"], []):
        ran = atende("tenants", "apply", "-f", str(path), *flags)
        assert ran.code == 1, ran
        assert "Traceback" not in ran.err, ran.err
        assert says in ran.err, ran.err
    assert await _counts(clean_db) == (0, 0, 0)


async def test_a_tenant_s_own_messages_are_applied(
    atende: Cli, clean_db: SessionMaker, tmp_path: Path
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        TENANT_FILE
        + "  handoff: {keywords: [humano]}\n"
        + '  messages: {noAnswer: "Não sei ainda. Escreva {palavra} para falar com a {empresa}."}\n'
    )
    ran = atende("tenants", "apply", "-f", str(path))
    assert ran.out == "bottenant/acme created (version 1)\n", ran


async def test_the_deprecated_persona_texts_still_apply_with_a_warning(
    atende: Cli, clean_db: SessionMaker, tmp_path: Path
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        TENANT_FILE.replace(
            "    language: pt-BR\n",
            '    language: pt-BR\n    fallbackMessage: "Fora do ar."\n    waitMessage: "Já vai."\n',
        )
        + '  messages: {wait: "Um instante."}\n'
    )
    for flags, out in (
        (["--dry-run"], "bottenant/acme created (dry run)"),
        ([], "bottenant/acme created (version 1)"),
    ):
        ran = atende("tenants", "apply", "-f", str(path), *flags)
        assert ran.code == 0, ran
        assert ran.out.startswith(out), ran
        assert ran.err_lines == [
            "warning: bottenant/acme: spec.persona.fallbackMessage is deprecated: use "
            "spec.messages.fallback",
            "warning: bottenant/acme: spec.persona.waitMessage is deprecated: use "
            "spec.messages.wait (spec.messages.wait is set too and wins)",
        ]
