"""The operator refuses a destination the worker would always refuse, naming the field in the
BotTenant's status, before any Secret is read or anything is stored."""

from __future__ import annotations

import logging
from typing import Any

import kopf
import pytest

from services.core.db import SessionMaker

from .conftest import FakeKube, bottenant, tenant_spec
from .test_handlers import last_status, ready, reconcile, tenants


def _whaticket(url: str) -> dict[str, Any]:
    return tenant_spec(whaticket={**tenant_spec()["whaticket"], "url": url})


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        (_whaticket("http://169.254.169.254/"), "spec.whaticket.url", "DestinationRefused"),
        (_whaticket("http://10.0.0.7:8080"), "spec.whaticket.url", "DestinationRefused"),
        (_whaticket("https://whaticket.acme.example/#"), "spec.whaticket.url", "InvalidSpec"),
        (_whaticket("https://bot:pw@whaticket.acme.example"), "spec.whaticket.url", "InvalidSpec"),
    ],
    ids=["metadata-service", "private", "fragment", "userinfo"],
)
async def test_a_destination_that_can_never_be_reached_is_refused_naming_the_field(
    memo: kopf.Memo,
    kube: FakeKube,
    clean_db: SessionMaker,
    logger: logging.Logger,
    spec: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    with pytest.raises(kopf.PermanentError):
        await reconcile(bottenant(spec), memo, logger)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("False", reason)
    assert field in condition["message"]
    assert await tenants(clean_db) == []
    assert kube.reads == []
