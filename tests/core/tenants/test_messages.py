"""``spec.messages``: a tenant template is checked when applied and rendered by plain
substitution; the CRD (both copies) documents every field with its defaults and refuses what
the model refuses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from services.core.handoff.messages import is_wait_notice, say
from services.core.tenants import schema
from services.core.tenants.messages import (
    ALLOWED,
    PLACEHOLDERS,
    Facts,
    Kind,
    default,
    email_subject,
)
from services.core.tenants.spec import BotTenantSpec

ROOT = Path(__file__).resolve().parents[3]
CRDS = [ROOT / "k8s" / "crds" / "bottenants.atende.dev.yaml"]
CRDS += [ROOT / "charts" / "atende" / "crds" / "bottenants.atende.dev.yaml"]
NOON = datetime(2026, 11, 24, 15, tzinfo=UTC)
PLAIN = Facts(
    keyword=False, person_follows=False, handoff=False, opening_ahead=True, media_read=False
)
WITH_KEYWORD = Facts(
    keyword=True, person_follows=False, handoff=True, opening_ahead=True, media_read=False
)


def spec(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "displayName": "ACME Telecom",
        "whaticket": {"connections": [{"name": "main"}]},
        "persona": {"systemPrompt": "Você é a Ana."},
    }
    return raw | overrides


def problems(raw: dict[str, Any]) -> list[str]:
    """What the model says, as ``tenants apply`` and the operator report it."""
    try:
        BotTenantSpec.model_validate(raw)
    except ValidationError as exc:
        return [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()]
    return []


@pytest.mark.parametrize(
    "template",
    [
        "Olá {nome}",  # unknown
        "A {empresa.__class__.__mro__}",  # attribute access
        "A {empresa[0]}",  # indexing
        "A {empresa!r}",  # conversion
        "A {empresa:>99999}",  # a format spec (a huge padding)
        "Chaves { soltas",
        "Chaves } soltas",
        "{}",
        "{0}",
        "Espere {minutos} min",  # only the wait notice knows a wait
    ],
)
def test_a_template_that_is_not_plain_substitution_is_refused_naming_the_field(
    template: str,
) -> None:
    (problem,) = problems(spec(messages={"handoff": template}))
    assert problem.startswith("messages.handoff: ")


def test_promises_need_what_they_promise_configured() -> None:
    (problem,) = problems(spec(messages={"noAnswer": 'Escreva "{palavra}".'}))
    assert "messages.noAnswer" in problem
    assert "handoff.keywords" in problem
    off = {"handoff": False}
    refused = problems(
        spec(messages={"fallback": "{keyword}"}, handoff={"keywords": ["x"]}, features=off)
    )
    assert "messages.fallback" in refused[0]
    (problem,) = problems(spec(messages={"wait": "Atendemos {horario}."}))
    assert "messages.wait" in problem
    assert "businessHours.weekly" in problem
    assert problems(spec(messages={"noAnswer": "{palavra}"}, handoff={"keywords": ["x"]})) == []


def test_literal_braces_and_every_allowed_placeholder_render() -> None:
    weekly = {"mon": ["08:00-12:00", "13:00-18:00"], "tue": ["08:00-12:00", "13:00-18:00"]}
    messages = {
        "wait": "{{ok}} {empresa}/{company} {quando}/{when} {horario}/{hours} "
        "{palavra}/{keyword} {minutos}/{minutes}"
    }
    parsed = BotTenantSpec.model_validate(
        spec(
            messages=messages, handoff={"keywords": [" humano "]}, businessHours={"weekly": weekly}
        )
    )
    hours = "seg a ter 08:00-12:00 e 13:00-18:00"  # noon in São Paulo: the lunch break
    assert say(parsed, Kind.WAIT, NOON, minutes=3) == (
        "{ok} ACME Telecom/ACME Telecom hoje às 13h/hoje às 13h "
        f"{hours}/{hours} humano/humano 3/3"
    )


def test_the_old_built_in_wait_text_counts_as_unset() -> None:
    """The CRD used to default persona.waitMessage: an English tenant stored with it gets the
    English default, and its own older text is still sent as written."""
    old = "Recebi sua mensagem! Só um momento, já te respondo."
    english = spec(persona={"systemPrompt": "x", "language": "en", "waitMessage": old})
    parsed = BotTenantSpec.model_validate(english)
    assert (
        say(parsed, Kind.WAIT, NOON)
        == "I got your message! Just a moment, I'll answer you shortly."
    )
    english["persona"]["waitMessage"] = "One moment {please}"
    parsed = BotTenantSpec.model_validate(english)
    assert say(parsed, Kind.WAIT, NOON) == "One moment {please}"
    assert is_wait_notice(parsed, "one moment please!", NOON)


def test_the_wait_notice_coming_back_is_known_whatever_its_placeholders_said() -> None:
    parsed = BotTenantSpec.model_validate(
        spec(messages={"wait": "Aguarde {minutos} min, {empresa}."})
    )
    assert is_wait_notice(parsed, "Aguarde 12 min, ACME Telecom.", NOON)
    assert not is_wait_notice(parsed, "Aguarde, já falo com você.", NOON)


def _messages_schema(path: Path) -> dict[str, Any]:
    crd = yaml.safe_load(path.read_text())
    (version,) = crd["spec"]["versions"]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    messages: dict[str, Any] = spec_schema["properties"]["messages"]
    return messages


@pytest.mark.parametrize("path", CRDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_crd_documents_every_message_its_defaults_and_placeholders(path: Path) -> None:
    messages = _messages_schema(path)
    assert set(messages["properties"]) == {kind.value for kind in Kind}
    for name in PLACEHOLDERS:
        assert f"{{{name}}}" in messages["description"]
    for kind in Kind:
        field = messages["properties"][kind.value]
        assert field["maxLength"] == 2000
        for language in ("pt-BR", "en", "es"):
            for facts in (PLAIN, WITH_KEYWORD):
                text = default(kind, language, facts)
                assert f"`{text}`" in field["description"], (kind, language)


@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_the_crd_admits_exactly_the_placeholders_the_model_does(kind: Kind) -> None:
    base = {"apiVersion": "atende.dev/v1alpha1", "kind": "BotTenant", "metadata": {"name": "acme"}}
    for name, value in PLACEHOLDERS.items():
        document = base | {"spec": spec(messages={kind.value: f"Oi {{{{ {{{name}}} }}}}"})}
        admitted = schema.validate(document) == []
        assert admitted == (value in ALLOWED[kind]), (kind, name)
    for bad in ("{nome}", "{empresa.x}", "{", "}"):
        document = base | {"spec": spec(messages={kind.value: bad})}
        assert schema.validate(document), (kind, bad)


def test_the_fallback_e_mail_s_subject_follows_the_persona_language() -> None:
    """Left out, or the pt-BR text the CRD used to fill in, it is in the tenant's language."""
    assert email_subject(None, "en-US") == "Reply to your WhatsApp message"
    assert email_subject("Resposta ao seu contato pelo WhatsApp", "es") == (
        "Respuesta a tu contacto por WhatsApp"
    )
    assert email_subject(None, "pt-BR") == "Resposta ao seu contato pelo WhatsApp"
    assert email_subject("Sua resposta da {empresa}", "en") == "Sua resposta da {empresa}"
