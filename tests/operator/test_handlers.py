"""The kopf handlers called directly: real Postgres, Kubernetes Secrets served by FakeKube."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
import yaml
from sqlalchemy import func, select

from atende_operator import handlers
from atende_operator.reconcile import TenantObject
from atende_operator.resources import generated_webhook_secret_name
from services.core.db import SessionMaker, transaction
from services.core.errors import ManifestError
from services.core.models import Contact, Tenant
from services.core.tenants.credentials import CredentialCipher, hash_webhook_secret
from services.core.tenants.manifest import TENANT_LABEL, load_manifests
from services.core.tenants.service import TenantClaimedError, apply_tenant

from .conftest import (
    SECRET_VALUES,
    TOKEN,
    TOKEN_ROTATED,
    FakeKube,
    bottenant,
    secret_data,
    tenant_spec,
)

INVALID = Path(__file__).resolve().parents[2] / "k8s" / "examples" / "invalid"


async def reconcile(
    body: dict[str, Any], memo: kopf.Memo, logger: logging.Logger
) -> dict[str, Any]:
    """Run the reconcile handler as kopf would; the status it patched (even when it raised)."""
    patch = kopf.Patch()
    try:
        await handlers.reconcile(body=as_body(body), patch=patch, memo=memo, logger=logger, retry=0)
    finally:
        reconcile.last_status = dict(patch.get("status", {}))  # type: ignore[attr-defined]
    return dict(patch["status"])


def as_body(raw: dict[str, Any]) -> kopf.Body:
    return kopf.Body(cast(kopf.RawBody, raw))


def last_status() -> dict[str, Any]:
    status: dict[str, Any] = reconcile.last_status  # type: ignore[attr-defined]
    return status


def ready(status: dict[str, Any]) -> dict[str, Any]:
    condition: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == "Ready")
    return condition


async def tenants(sessionmaker: SessionMaker) -> list[Tenant]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Tenant).order_by(Tenant.id)))


def assert_no_secret_value(*texts: Any) -> None:
    dumped = json.dumps(texts, default=str)
    for value in SECRET_VALUES:
        assert value not in dumped


async def test_create_writes_the_tenant_and_reports_ready(
    memo: kopf.Memo, clean_db: SessionMaker, cipher: CredentialCipher, logger: logging.Logger
) -> None:
    status = await reconcile(bottenant(generation=3), memo, logger)

    (row,) = await tenants(clean_db)
    assert (row.slug, row.source, row.enabled, row.version) == ("acme", "tenants-a/acme", True, 1)
    assert cipher.decrypt(row.credentials).whaticket_tokens == {"main": TOKEN}
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 3
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == ("True", "Reconciled")
    assert condition["lastTransitionTime"].endswith("Z")
    assert status["webhookPath"] == "/hooks/whaticket/acme/main/<webhook-secret>"
    assert status["webhookSecretRef"] == {"name": "acme", "key": "webhook-secret"}
    assert_no_secret_value(status)


async def test_update_bumps_the_version_and_an_unchanged_spec_does_not(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    await reconcile(bottenant(), memo, logger)
    changed = tenant_spec(displayName="ACME Telecom S.A.")
    status = await reconcile(bottenant(changed, generation=2), memo, logger)
    (row,) = await tenants(clean_db)
    assert (row.version, row.display_name) == (2, "ACME Telecom S.A.")
    assert status["observedGeneration"] == 2
    assert "updated (version 2)" in ready(status)["message"]

    body = bottenant(changed, generation=2)
    body["status"] = status  # what the API server now holds: the transition time stays
    again = await reconcile(body, memo, logger)
    (row,) = await tenants(clean_db)
    assert row.version == 2
    assert "unchanged" in ready(again)["message"]
    assert ready(again)["lastTransitionTime"] == ready(status)["lastTransitionTime"]


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ({}, "Secret 'acme' not found in namespace 'tenants-a'"),
        (
            {k: v for k, v in secret_data().items() if k != "whaticket-token"},
            "Secret 'acme' has no key 'whaticket-token'",
        ),
    ],
    ids=["no-secret", "no-key"],
)
async def test_a_missing_secret_is_a_temporary_error_naming_the_field(
    memo: kopf.Memo,
    kube: FakeKube,
    clean_db: SessionMaker,
    logger: logging.Logger,
    secrets: dict[str, str],
    expected: str,
) -> None:
    kube.secrets.pop(("tenants-a", "acme"))
    if secrets:
        kube.secrets[("tenants-a", "acme")] = secrets
    with pytest.raises(kopf.TemporaryError) as info:
        await reconcile(bottenant(), memo, logger)
    field = "spec.whaticket.connections[0].apiTokenSecretRef"
    assert f"{field}: {expected}" in str(info.value)
    assert info.value.delay is not None
    assert info.value.delay > 0
    status = last_status()
    assert status["phase"] == "Pending"
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == ("False", "SecretMissing")
    assert field in condition["message"]
    assert await tenants(clean_db) == []
    # Only the Secret the spec references was read, never anything else.
    assert {name for _, name in kube.reads} == {"acme"}
    assert_no_secret_value(status, str(info.value))


def _invalid_cases() -> list[Any]:
    cases = []
    for path in sorted(INVALID.glob("*.yaml")):
        field = path.read_text().splitlines()[0].removeprefix("# Refused: names ")
        (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] == "BotTenant"]
        cases.append(pytest.param(doc["spec"], field, id=path.stem))
    return cases


@pytest.mark.parametrize(("spec", "field"), _invalid_cases())
async def test_an_invalid_spec_is_a_permanent_error_naming_the_field(
    memo: kopf.Memo,
    kube: FakeKube,
    clean_db: SessionMaker,
    logger: logging.Logger,
    spec: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(kopf.PermanentError) as info:
        await reconcile(bottenant(spec), memo, logger)
    assert field in str(info.value)
    status = last_status()
    assert status["phase"] == "Error"
    condition = ready(status)
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert field in condition["message"]
    assert await tenants(clean_db) == []
    assert kube.reads == []  # refused before any Secret is read


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            tenant_spec(rateLimits={"perContactPerMinute": -1}),
            "spec.rateLimits.perContactPerMinute",
        ),
        (
            tenant_spec(businessHours={"weekly": {"mon": ["8h-18h"]}}),
            "spec.businessHours.weekly.mon[0]",
        ),
        (
            tenant_spec(whaticket={**tenant_spec()["whaticket"], "variant": "whatsapp-web"}),
            "spec.whaticket.variant",
        ),
    ],
    ids=["negative-limit", "malformed-business-hours", "unknown-variant"],
)  # fmt: skip
async def test_the_brief_s_invalid_specs_on_a_tenant_that_exists_change_nothing(
    memo: kopf.Memo,
    clean_db: SessionMaker,
    logger: logging.Logger,
    spec: dict[str, Any],
    field: str,
) -> None:
    await reconcile(bottenant(), memo, logger)
    (before,) = await tenants(clean_db)
    with pytest.raises(kopf.PermanentError) as info:
        await reconcile(bottenant(spec, generation=2), memo, logger)
    assert field in str(info.value)
    assert last_status()["observedGeneration"] == 2
    (after,) = await tenants(clean_db)
    assert (after.version, after.spec_hash, after.spec) == (1, before.spec_hash, before.spec)


async def test_the_same_name_in_another_namespace_is_refused(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    await reconcile(bottenant(), memo, logger)
    (before,) = await tenants(clean_db)
    kube.secrets[("tenants-b", "acme")] = secret_data(token=TOKEN_ROTATED)

    intruder = bottenant(tenant_spec(displayName="Not ACME"), namespace="tenants-b")
    with pytest.raises(kopf.PermanentError) as info:
        await reconcile(intruder, memo, logger)
    assert "belongs to 'tenants-a/acme'" in str(info.value)
    status = last_status()
    assert (status["phase"], ready(status)["reason"]) == ("Error", "NameClaimed")

    (after,) = await tenants(clean_db)
    assert (after.source, after.version, after.display_name) == (
        "tenants-a/acme",
        1,
        "ACME Telecom",
    )
    assert after.credentials == before.credentials

    # Deleting the refused BotTenant must not disable the tenant it never owned.
    await handlers.finalize(
        name="acme", namespace="tenants-b", memo=memo, logger=logging.getLogger()
    )
    (after,) = await tenants(clean_db)
    assert (after.enabled, after.version) == (True, 1)


async def test_delete_disables_the_tenant_and_keeps_its_rows(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    await reconcile(bottenant(), memo, logger)
    (row,) = await tenants(clean_db)
    async with transaction(clean_db) as session:
        session.add(Contact(tenant_id=row.id, phone="5511999990000"))

    await handlers.finalize(name="acme", namespace="tenants-a", memo=memo, logger=logger)

    (row,) = await tenants(clean_db)
    assert (row.enabled, row.version, row.source) == (False, 2, "tenants-a/acme")
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1

    # Created again (same namespace and name): the very same spec switches it back on.
    status = await reconcile(bottenant(), memo, logger)
    (row,) = await tenants(clean_db)
    assert (row.enabled, row.version) == (True, 3)
    assert status["phase"] == "Ready"


async def test_without_webhook_secret_refs_one_is_generated_and_owned(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    spec = tenant_spec()
    del spec["webhook"]
    status = await reconcile(bottenant(spec), memo, logger)

    (created,) = kube.created
    assert created["metadata"]["name"] == generated_webhook_secret_name("acme") == "acme-webhook"
    (owner,) = created["metadata"]["ownerReferences"]
    assert owner["kind"] == "BotTenant"
    assert (owner["name"], owner["uid"], owner["controller"]) == (
        "acme",
        "uid-tenants-a-acme",
        True,
    )
    generated = kube.secrets[("tenants-a", "acme-webhook")]["webhook-secret"]
    assert len(generated) >= 32
    (row,) = await tenants(clean_db)
    assert row.webhook_secret_hashes == [hash_webhook_secret(generated)]
    assert status["webhookSecretRef"] == {"name": "acme-webhook", "key": "webhook-secret"}
    assert generated not in json.dumps(status)

    # Idempotent: the next reconcile uses the same Secret, generates nothing.
    await reconcile(bottenant({**spec, "webhook": {"secretRefs": []}}), memo, logger)
    assert len(kube.created) == 1
    (row,) = await tenants(clean_db)
    assert row.webhook_secret_hashes == [hash_webhook_secret(generated)]


async def test_a_changed_secret_re_reconciles_the_bottenants_that_reference_it(
    memo: kopf.Memo,
    kube: FakeKube,
    clean_db: SessionMaker,
    cipher: CredentialCipher,
    logger: logging.Logger,
) -> None:
    body = bottenant()
    await reconcile(body, memo, logger)
    index: dict[tuple[str, str], list[TenantObject]] = {}
    for key, obj in handlers.index_secrets(
        body=as_body(body), name="acme", namespace="tenants-a"
    ).items():
        index.setdefault(key, []).append(obj)
    assert set(index) == {("tenants-a", "acme")}

    kube.secrets[("tenants-a", "acme")] = secret_data(token=TOKEN_ROTATED)
    for event_type, name in [(None, "acme"), ("MODIFIED", "unrelated"), ("MODIFIED", "acme")]:
        await handlers.secret_changed(
            event=cast(kopf.RawEvent, {"type": event_type, "object": {}}),
            name=name,
            namespace="tenants-a",
            memo=memo,
            logger=logger,
            tenant_secrets=index,
        )

    (row,) = await tenants(clean_db)
    assert cipher.decrypt(row.credentials).whaticket_tokens == {"main": TOKEN_ROTATED}
    assert row.version == 2
    ((namespace, name, status),) = kube.status_patches  # the initial listing was skipped
    assert (namespace, name, status["phase"]) == ("tenants-a", "acme", "Ready")
    assert_no_secret_value(status)


async def test_the_cli_cannot_take_an_operator_tenant_but_the_operator_can_take_a_file_one(
    memo: kopf.Memo, clean_db: SessionMaker, cipher: CredentialCipher, logger: logging.Logger
) -> None:
    text = yaml.safe_dump_all(
        [
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "acme", "labels": {TENANT_LABEL: "acme"}},
             "stringData": secret_data()},
            {**bottenant(), "metadata": {"name": "acme"}},
        ]
    )  # fmt: skip
    manifests, secrets = load_manifests(text)
    async with transaction(clean_db) as session:
        await apply_tenant(session, manifests[0], secrets, cipher)
    (row,) = await tenants(clean_db)
    assert row.source == "file"

    await reconcile(bottenant(), memo, logger)  # a BotTenant takes over a file tenant
    (row,) = await tenants(clean_db)
    assert row.source == "tenants-a/acme"

    with pytest.raises(TenantClaimedError) as info:
        async with transaction(clean_db) as session:
            await apply_tenant(session, manifests[0], secrets, cipher)
    assert isinstance(info.value, ManifestError)
    (row,) = await tenants(clean_db)
    assert row.source == "tenants-a/acme"
