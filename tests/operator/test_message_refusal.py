"""A BotTenant whose ``spec.messages`` the bot could not say safely, or that promises what the
tenant has not configured, is refused in its status naming the field, before a Secret is read or
anything is stored; its own words are taken once they are right."""

from __future__ import annotations

import logging

import kopf
import pytest

from services.core.db import SessionMaker

from .conftest import FakeKube, bottenant, tenant_spec
from .test_handlers import last_status, ready, reconcile, tenants


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ({"handoff": "Já chamo {atendente}."}, "spec.messages.handoff"),
        ({"blocked": "{empresa.__init__.__globals__}"}, "spec.messages.blocked"),
        ({"noAnswer": 'Escreva "{palavra}".'}, "messages.noAnswer"),  # no handoff keyword
        ({"wait": "Atendemos {horario}."}, "messages.wait"),  # no business hours
    ],
    ids=["unknown", "attribute", "no-keyword", "no-hours"],
)
async def test_a_bad_message_is_refused_naming_the_field(
    memo: kopf.Memo,
    kube: FakeKube,
    clean_db: SessionMaker,
    logger: logging.Logger,
    messages: dict[str, str],
    field: str,
) -> None:
    with pytest.raises(kopf.PermanentError):
        await reconcile(bottenant(tenant_spec(messages=messages)), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert field in condition["message"]
    assert await tenants(clean_db) == []
    assert kube.reads == []


async def test_a_tenant_s_own_messages_are_reconciled(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    spec = tenant_spec(
        handoff={"keywords": ["humano"]},
        messages={"noAnswer": 'Ainda não sei. Escreva "{palavra}" para falar com a {empresa}.'},
    )
    await reconcile(bottenant(spec), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("True", "Reconciled")
    [tenant] = await tenants(clean_db)
    assert tenant.spec["messages"]["noAnswer"].startswith("Ainda não sei.")


async def test_a_deprecated_persona_text_is_reconciled_and_named_in_the_status(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    persona = {**tenant_spec()["persona"], "fallbackMessage": "Fora do ar."}
    await reconcile(bottenant(tenant_spec(persona=persona)), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("True", "Reconciled")
    assert condition["message"] == (
        "tenant created (version 1); spec.persona.fallbackMessage is deprecated: "
        "use spec.messages.fallback"
    )
