"""``atende tenants apply -f`` refuses a Secret not labelled for the BotTenant, naming it, and
stores nothing: the platform's own Secret in the same file never becomes a tenant's token."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from services.core.db import SessionMaker
from services.core.models import Tenant

from .conftest import Cli

REFUSED = Path(__file__).resolve().parents[2] / "k8s" / "examples" / "refused"
PLATFORM_VALUE = "replace-with-the-platform-s-key-never-a-tenant-s"


async def test_an_unlabelled_secret_is_refused_by_name(atende: Cli, clean_db: SessionMaker) -> None:
    path = REFUSED / "unlabelled-secret.yaml"
    assert PLATFORM_VALUE in path.read_text()
    for flags in ((), ("--dry-run",)):
        ran = atende("tenants", "apply", "-f", str(path), *flags)
        assert ran.code == 1, ran
        assert "Traceback" not in ran.err
        assert (
            "BotTenant 'shop': spec.whaticket.connections[0].apiTokenSecretRef: "
            "Secret 'atende-secrets' is not labelled atende.dev/tenant=shop"
        ) in ran.err
        assert PLATFORM_VALUE not in ran.out + ran.err
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(Tenant)) == 0
