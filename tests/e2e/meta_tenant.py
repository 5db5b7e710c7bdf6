"""The e2e tenant with a Cloud API channel beside its Whaticket: the Graph stand-in it replies
through and the ``tenants apply`` that adds ``spec.meta`` (shared by the Cloud API tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.tenant_files import extended
from tests.standins.meta_graph import GraphStandIn

from .conftest import TENANT, Stack, tenant_yaml

PHONE_NUMBER_ID = "106540352242922"
APP_SECRET = "meta-app-secret-e2e-0123456789"
ACCESS_TOKEN = "EAAG-e2e-access-token"


@pytest.fixture
def graph() -> Iterator[GraphStandIn]:
    with GraphStandIn(PHONE_NUMBER_ID, ACCESS_TOKEN) as server:
        yield server


async def apply_meta_tenant(stack: Stack, graph: GraphStandIn) -> None:
    """Re-apply the stack's tenant with ``spec.meta`` pointing at ``graph``."""
    path = stack.tmp / "tenant-meta.yaml"
    secrets = {
        "meta-verify": "verify-e2e",
        "meta-app-secret": APP_SECRET,
        "meta-token": ACCESS_TOKEN,
    }
    meta = f"""\
  meta:
    phoneNumberId: "{PHONE_NUMBER_ID}"
    graphUrl: {graph.url}
    verifyTokenSecretRef: {{name: {TENANT}, key: meta-verify}}
    appSecretSecretRef: {{name: {TENANT}, key: meta-app-secret}}
    accessTokenSecretRef: {{name: {TENANT}, key: meta-token}}
"""
    path.write_text(extended(tenant_yaml(stack.whaticket.url), secrets, meta))
    code, _, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
