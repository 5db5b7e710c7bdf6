"""The platform key pays only for the models the platform chose (``ATENDE_PLATFORM_MODELS``):
a tenant without its own key naming another model is refused by ``tenants apply``, and its turns
never call it — the customer gets the tenant's fallback and the dead letter says why. A tenant
with its own key may name any model: Google bills the tenant."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.core.db import transaction
from services.core.errors import ManifestError
from services.core.llm.allowlist import refuse_unbilled
from services.core.tenants import switches
from services.core.tenants.manifest import TenantManifest
from services.core.tenants.spec import BotTenantSpec
from tests.fixtures.turns import FALLBACK, Harness, tenant_spec

EXPENSIVE = "gemini-3-ultra-preview"


async def test_a_model_the_platform_does_not_pay_for_is_never_called(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(platform_models=["gemini-2.5-flash"])
    await h.apply_tenant(llm={"model": EXPENSIVE})
    await h.run(await h.ingest("Oi, tudo bem?"))
    assert h.gemini.request_count == 0
    assert h.delivered() == [FALLBACK]
    [letter] = await h.dead_letters()
    assert letter.error_class == "model_not_allowed"


async def test_an_override_outside_the_list_is_not_billed_either(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(platform_models=["gemini-2.5-flash"])
    tenant = await h.apply_tenant()
    await h.run(await h.ingest("Oi"))
    assert h.gemini.request_count == 1  # the spec's model is on the list
    async with transaction(h.sessionmaker) as session:
        await switches.force_model(session, tenant.slug, EXPENSIVE, actor="test")
    h.deps.tenants.invalidate(tenant.slug)
    await h.run(await h.ingest("E agora?"))
    assert h.gemini.request_count == 1
    assert h.delivered()[-1] == FALLBACK


async def test_a_tenant_with_its_own_key_may_use_any_model(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness(platform_models=["gemini-2.5-flash"])
    await h.apply_tenant(gemini_key="tenant-own-gemini-key-0123", llm={"model": EXPENSIVE})
    await h.run(await h.ingest("Oi"))
    assert h.gemini.last_request.path.endswith(f"/models/{EXPENSIVE}:generateContent")


def _manifest(**llm: object) -> TenantManifest:
    spec = tenant_spec("https://whaticket.example", "saas", llm=llm)
    return TenantManifest("acme", BotTenantSpec.model_validate(spec))


def test_apply_refuses_an_unpaid_model_naming_the_field() -> None:
    with pytest.raises(ManifestError) as info:
        refuse_unbilled([_manifest(model=EXPENSIVE)], ["gemini-2.5-flash"])
    [problem] = info.value.problems
    assert problem.startswith("BotTenant acme: spec.llm.model: 'gemini-3-ultra-preview'")
    assert "spec.llm.apiKeySecretRef" in problem
    own_key = {"name": "acme", "key": "gemini-api-key"}
    refuse_unbilled([_manifest(model=EXPENSIVE, apiKeySecretRef=own_key)], ["gemini-2.5-flash"])
    refuse_unbilled([_manifest(model="gemini-2.5-flash")], ["gemini-2.5-flash"])
