"""A BotTenant on the platform's Gemini key may only name a model ATENDE_PLATFORM_MODELS pays for:
any other is refused in its status, naming spec.llm.model, before a Secret is read or anything is
stored. With its own key (apiKeySecretRef) the tenant is billed itself and may name any."""

from __future__ import annotations

import logging

import kopf
import pytest

from services.core.db import SessionMaker

from .conftest import FakeKube, bottenant, tenant_spec
from .test_handlers import last_status, ready, reconcile, tenants


async def test_a_model_the_platform_key_does_not_pay_for_is_refused_naming_the_field(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    spec = tenant_spec(llm={"model": "gemini-ultra-expensive"})
    with pytest.raises(kopf.PermanentError):
        await reconcile(bottenant(spec), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("False", "ModelNotAllowed")
    assert "spec.llm.model" in condition["message"]
    assert "gemini-ultra-expensive" in condition["message"]
    assert await tenants(clean_db) == []
    assert kube.reads == []


async def test_a_tenant_with_its_own_key_may_name_any_model(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    llm = {**tenant_spec()["llm"], "model": "gemini-ultra-expensive"}
    await reconcile(bottenant(tenant_spec(llm=llm)), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("True", "Reconciled")
    assert [t.slug for t in await tenants(clean_db)] == ["acme"]
