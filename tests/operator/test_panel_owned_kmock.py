"""status.panelOwned through the whole operator against kmock's in-memory Kubernetes API: a
panel edit of a delegated field, which changes nothing in the BotTenant, shows in its status
(who, when) by the operator's timer, and the resource's own value stays unused."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from atende_operator import panel_owned
from services.core.db import SessionMaker, transaction
from services.core.models import Tenant
from services.core.tenants import settings
from services.core.tenants.delegation import Delegable

from . import test_operator_kmock as shared
from .conftest import bottenant, secret_data, tenant_spec

api = shared.api  # kmock's API server, the operator's kubeconfig pointing at it
pytestmark = shared.pytestmark
ADMIN = "ana@acme.example"


async def test_a_panel_edit_shows_in_the_status_and_the_resource_value_stays_unused(
    api: Any, database_url: str, clean_db: SessionMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(panel_owned, "INTERVAL_SECONDS", 0.5)  # read when the registry is built
    faq = {"entries": [{"question": "Formas de pagamento?", "answer": "Pix."}]}
    spec = tenant_spec(knowledge=faq, delegation={"panelOwns": ["knowledge"]})
    async with shared.running_operator(database_url):
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "acme", "namespace": shared.NS, "labels": shared.OPTED_IN},
        }
        await shared.request(
            api, "POST", shared.SECRETS, json={**secret, "stringData": secret_data()}
        )
        body = bottenant(spec, namespace=shared.NS, generation=1)
        await shared.request(api, "POST", shared.BOTTENANTS, json=body)

        async def ready() -> dict[str, Any] | None:
            current = await shared.status_of(api, "acme")
            return current if current.get("phase") == "Ready" else None

        assert (await shared.eventually(ready, "status.phase Ready"))["panelOwned"] == []

        edited = {"entries": [{"question": "Formas de pagamento?", "answer": "Pix e cartão."}]}
        async with transaction(clean_db) as session:
            await settings.edit(
                session, "acme", Delegable.KNOWLEDGE, edited, expected_version=0, actor=ADMIN
            )

        async def owned() -> list[dict[str, Any]] | None:
            found = (await shared.status_of(api, "acme")).get("panelOwned")
            return found or None

        [item] = await shared.eventually(owned, "status.panelOwned", within=20)
        assert (item["field"], item["updatedBy"]) == ("knowledge", ADMIN)
        async with clean_db() as session:
            row = await session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        assert row is not None
        assert row.spec["knowledge"]["entries"] == edited["entries"]
