"""The reconcile refuses every Secret and ConfigMap not labelled ``atende.dev/tenant: <name>``.

The hole it closes: a BotTenant naming another tenant's Secret (or the platform's) had that
value stored as its own credential, and the worker then sent it to the tenant's URL.
"""

from __future__ import annotations

import logging

import kopf
import pytest

from services.core.db import SessionMaker, transaction
from services.core.tenants import switches
from services.core.tenants.manifest import TENANT_LABEL

from .conftest import GEMINI_KEY, FakeKube, bottenant, secret_data, tenant_spec
from .test_handlers import last_status, ready, reconcile, tenants

GLOBEX_KEY = "AIzaSy-globex-gemini-key-never-acme-s"


async def test_another_tenant_s_secret_is_refused_and_its_value_never_stored(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.secrets[("tenants-a", "globex")] = {"gemini-api-key": GLOBEX_KEY}
    kube.labels[("tenants-a", "globex")] = {TENANT_LABEL: "globex"}
    spec = tenant_spec(llm={"apiKeySecretRef": {"name": "globex", "key": "gemini-api-key"}})
    with pytest.raises(kopf.TemporaryError) as info:
        await reconcile(bottenant(spec, generation=2), memo, logger)
    assert "Secret 'globex' is not labelled atende.dev/tenant=acme" in str(info.value)
    status = last_status()
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == ("False", "SecretNotLabelled")
    assert condition["message"] == (
        "spec.llm.apiKeySecretRef: Secret 'globex' is not labelled atende.dev/tenant=acme"
    )
    assert (status["phase"], condition["observedGeneration"]) == ("Error", 2)
    assert GLOBEX_KEY not in str(status)
    assert await tenants(clean_db) == []


async def test_labelled_for_the_tenant_is_all_it_takes(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.labels[("tenants-a", "acme")] = {TENANT_LABEL: "acme", "team": "support"}
    status = await reconcile(bottenant(), memo, logger)
    assert ready(status)["reason"] == "Reconciled"
    (row,) = await tenants(clean_db)
    assert row.enabled


async def test_an_unlabelled_secret_is_refused_even_when_it_is_the_only_one(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.labels[("tenants-a", "acme")] = {}
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(), memo, logger)
    problems = ready(last_status())["message"].split("; ")
    assert len(problems) == 4
    assert all("Secret 'acme' is not labelled" in p for p in problems)
    assert GEMINI_KEY not in str(last_status())


async def test_the_generated_webhook_secret_is_labelled_and_an_existing_one_never_written(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    no_hooks = tenant_spec(webhook={})
    await reconcile(bottenant(no_hooks), memo, logger)
    (created,) = kube.created
    assert created["metadata"]["labels"][TENANT_LABEL] == "acme"

    # Someone else's Secret of the generated name (not labelled for acme) is not taken over,
    # and nothing writes to it: FakeKube has no patch, as the operator has none on Secrets.
    kube.secrets[("tenants-b", "acme-webhook")] = {"webhook-secret": "someone-else-s-0123456789"}
    kube.labels[("tenants-b", "acme-webhook")] = {}
    kube.secrets[("tenants-b", "acme")] = secret_data()
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(no_hooks, namespace="tenants-b"), memo, logger)
    assert ready(last_status())["message"] == (
        "spec.webhook.secretRefs: Secret 'acme-webhook' is not labelled atende.dev/tenant=acme"
    )
    assert len(kube.created) == 1


async def test_a_config_map_not_labelled_for_the_tenant_is_refused(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.config_maps[("tenants-a", "acme-faq")] = {"faq.yaml": "- {question: Q, answer: A}\n"}
    kube.labels[("tenants-a", "acme-faq")] = {TENANT_LABEL: "globex"}
    knowledge = {"configMapRefs": [{"name": "acme-faq", "key": "faq.yaml"}]}
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(tenant_spec(knowledge=knowledge)), memo, logger)
    condition = ready(last_status())
    assert (condition["reason"], condition["message"]) == (
        "ConfigMapNotLabelled",
        "ConfigMap 'acme-faq' is not labelled atende.dev/tenant=acme",
    )
    assert await tenants(clean_db) == []


async def _pause_of(sessionmaker: SessionMaker) -> tuple[bool, str | None]:
    (row,) = await tenants(sessionmaker)
    return row.paused, row.pause_reason


async def test_what_was_stored_from_a_secret_that_lost_its_label_is_held_until_it_is_back(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    """Refusing the Secret is not enough: the token an earlier apply stored would go on being
    sent. The tenant is paused (messages kept, nothing sent) until the label is back, and then
    resumed; a pause someone made for another reason is never lifted."""
    await reconcile(bottenant(), memo, logger)
    assert await _pause_of(clean_db) == (False, None)

    kube.labels[("tenants-a", "acme")] = {}  # the label removed (or never set before upgrading)
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(generation=2), memo, logger)
    paused, reason = await _pause_of(clean_db)
    assert paused
    assert reason is not None
    assert "not labelled atende.dev/tenant" in reason

    kube.labels[("tenants-a", "acme")] = {TENANT_LABEL: "acme"}
    status = await reconcile(bottenant(generation=3), memo, logger)
    assert ready(status)["reason"] == "Reconciled"
    assert await _pause_of(clean_db) == (False, None)

    async with transaction(clean_db) as session:
        await switches.pause(session, "acme", reason="incident 42", actor="oncall")
    kube.labels[("tenants-a", "acme")] = {}
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(generation=4), memo, logger)
    kube.labels[("tenants-a", "acme")] = {TENANT_LABEL: "acme"}
    await reconcile(bottenant(generation=5), memo, logger)
    assert await _pause_of(clean_db) == (True, "incident 42")


async def test_a_config_map_that_lost_its_label_holds_the_tenant_too(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.config_maps[("tenants-a", "acme-faq")] = {"faq.yaml": "- {question: Q, answer: A}\n"}
    kube.labels[("tenants-a", "acme-faq")] = {TENANT_LABEL: "acme"}
    spec = tenant_spec(knowledge={"configMapRefs": [{"name": "acme-faq", "key": "faq.yaml"}]})
    await reconcile(bottenant(spec), memo, logger)
    kube.labels[("tenants-a", "acme-faq")] = {TENANT_LABEL: "globex"}
    with pytest.raises(kopf.TemporaryError):
        await reconcile(bottenant(spec, generation=2), memo, logger)
    assert (await _pause_of(clean_db))[0]
