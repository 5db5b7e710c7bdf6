"""The whole operator on the label-selecting API (``apiserver.py``): only Secrets labelled
``atende.dev/tenant`` are listed and watched, and a BotTenant naming the platform's Secret gets
a ``Ready=False`` condition instead of its value.

The condition follows the Kubernetes API conventions for conditions (``type``, ``status``,
``reason`` in CamelCase, a human ``message``, ``observedGeneration``, ``lastTransitionTime``):
https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties
and ``metav1.Condition`` (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/).
"""

from __future__ import annotations

from typing import Any

import kmock
import pytest
from sqlalchemy import func, select

from services.core.db import SessionMaker
from services.core.models import Tenant

from .apiserver import LabelSelectingEmulator
from .conftest import bottenant, secret_data, tenant_spec
from .test_operator_kmock import (
    MERGE,
    NS,
    OPTED_IN,
    SECRETS,
    api,
    eventually,
    request,
    running_operator,
    status_of,
)

__all__ = ["api"]  # the fixture, shared with the wiring test

PLATFORM_KEY = "the-platform-s-own-secret-key-0123456789"
pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.filterwarnings("ignore:read_binary is deprecated:DeprecationWarning"),
]


def secret(name: str, values: dict[str, str], labels: dict[str, str] | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": NS}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": values}


def platform_token_spec() -> dict[str, Any]:
    """ACME's spec with its Whaticket token taken from the platform's own Secret."""
    spec = tenant_spec()
    spec["whaticket"]["connections"][0]["apiTokenSecretRef"] = {
        "name": "atende-secrets",
        "key": "ATENDE_SECRET_KEY",
    }
    return spec


async def test_a_bottenant_naming_the_platform_s_secret_is_refused_with_a_condition(
    api: kmock.Server, database_url: str, clean_db: SessionMaker
) -> None:
    await request(api, "POST", SECRETS, json=secret("acme", secret_data(), OPTED_IN))
    platform = secret("atende-secrets", {"ATENDE_SECRET_KEY": PLATFORM_KEY}, None)
    await request(api, "POST", SECRETS, json=platform)
    async with running_operator(database_url):
        body = bottenant(platform_token_spec(), namespace=NS, generation=3)
        await request(api, "POST", f"/apis/atende.dev/v1alpha1/namespaces/{NS}/bottenants",
                      json=body)  # fmt: skip

        async def refused() -> dict[str, Any] | None:
            current = await status_of(api, "acme")
            return current if current.get("phase") == "Error" else None

        current = await eventually(refused, "status.phase Error")
        (condition,) = current["conditions"]
        assert condition["type"] == "Ready"
        assert condition["status"] == "False"
        assert condition["reason"] == "SecretNotLabelled"
        assert condition["message"] == (
            "spec.whaticket.connections[0].apiTokenSecretRef: "
            "Secret 'atende-secrets' is not labelled atende.dev/tenant=acme"
        )
        assert condition["observedGeneration"] == current["observedGeneration"] == 3
        assert condition["lastTransitionTime"].endswith("Z")
        assert PLATFORM_KEY not in str(current)
        async with clean_db() as session:
            assert await session.scalar(select(func.count()).select_from(Tenant)) == 0


async def test_only_labelled_secrets_are_listed_and_watched(
    api: kmock.Server, database_url: str, clean_db: SessionMaker
) -> None:
    emulator = api.handler
    assert isinstance(emulator, LabelSelectingEmulator)
    unlabelled = secret_data() | {"webhook-secret": "an-unlabelled-webhook-secret-0123"}
    await request(api, "POST", SECRETS, json=secret("acme", unlabelled, None))
    async with running_operator(database_url):
        await request(api, "POST", f"/apis/atende.dev/v1alpha1/namespaces/{NS}/bottenants",
                      json=bottenant(namespace=NS))  # fmt: skip

        async def reason() -> str | None:
            conditions = (await status_of(api, "acme")).get("conditions") or [{}]
            found = conditions[0].get("reason")
            return None if found is None else str(found)

        assert await eventually(reason, "a condition") == "SecretNotLabelled"

        # Every list and watch of Secrets and ConfigMaps asked the API server for the label.
        selected = {
            (path.rsplit("/", 1)[-1], selector)
            for path, selector in emulator.selected
            if path.endswith(("/secrets", "/configmaps"))
        }
        assert selected == {
            ("secrets", "atende.dev/tenant"),
            ("configmaps", "atende.dev/tenant"),
        }

        # Edits to the unlabelled Secret never reach the operator's watch.
        patch = {"stringData": {"whaticket-token": "edited-while-unlabelled"}}
        await request(api, "PATCH", f"{SECRETS}/acme", json=patch, headers=MERGE)
        assert [e for e in emulator.streamed if e[0].endswith("/secrets")] == []

        # Labelling it is an ADDED event for the operator's watch: the tenant is applied at
        # once, not at the next retry (120 s away).
        label = {"metadata": {"labels": OPTED_IN}}
        await request(api, "PATCH", f"{SECRETS}/acme", json=label, headers=MERGE)

        async def ready() -> dict[str, Any] | None:
            current = await status_of(api, "acme")
            return current if current.get("phase") == "Ready" else None

        await eventually(ready, "status.phase Ready once labelled")
        assert ("ADDED", "acme") in {e[1:] for e in emulator.streamed if e[0].endswith("/secrets")}

        # Removing the label is a DELETED event for the watch: the reconcile refuses again.
        unlabel = {"metadata": {"labels": {"atende.dev/tenant": None}}}
        await request(api, "PATCH", f"{SECRETS}/acme", json=unlabel, headers=MERGE)

        async def refused_again() -> str | None:
            found = await reason()
            return found if found == "SecretNotLabelled" else None

        await eventually(refused_again, "the refusal again")

        # And what the earlier apply stored from it is no longer used: the bot is held (paused,
        # messages kept) until the label is back.
        async def paused() -> bool:
            async with clean_db() as session:
                return bool(await session.scalar(select(Tenant.paused)))

        async def held() -> bool | None:
            return True if await paused() else None

        await eventually(held, "the tenant held")
        await request(api, "PATCH", f"{SECRETS}/acme", json=label, headers=MERGE)

        async def released() -> bool | None:
            return True if not await paused() and await ready() is not None else None

        await eventually(released, "the tenant released once labelled again")
