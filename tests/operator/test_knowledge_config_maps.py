"""Knowledge in ConfigMaps: read with the BotTenant, re-indexed when the ConfigMap changes."""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf
import pytest
from sqlalchemy import select

from atende_operator import handlers
from atende_operator.reconcile import TenantObject
from services.core.db import SessionMaker
from services.core.models import KnowledgeEntry

from .conftest import FakeKube, bottenant, tenant_spec
from .test_handlers import as_body, last_status, ready, reconcile

FAQ = """\
- question: Qual o prazo de entrega?
  answer: Até 5 dias úteis nas capitais.
- question: Vocês entregam aos sábados?
  answer: Sim, das 8h às 12h.
"""


def with_config_map() -> dict[str, Any]:
    knowledge = {"configMapRefs": [{"name": "acme-faq", "key": "faq.yaml"}]}
    return bottenant(tenant_spec(knowledge=knowledge))


async def questions(sessionmaker: SessionMaker) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.position))
        return [row.question for row in rows]


async def test_a_missing_config_map_waits_and_names_it(
    memo: kopf.Memo, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    with pytest.raises(kopf.TemporaryError) as info:
        await reconcile(with_config_map(), memo, logger)
    assert "ConfigMap 'acme-faq' not found in namespace 'tenants-a'" in str(info.value)
    condition = ready(last_status())
    assert (condition["status"], condition["reason"]) == ("False", "ConfigMapMissing")


async def test_a_malformed_entry_is_a_permanent_error_naming_it(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.config_maps[("tenants-a", "acme-faq")] = {"faq.yaml": "- question: sem resposta\n"}
    with pytest.raises(kopf.PermanentError) as info:
        await reconcile(with_config_map(), memo, logger)
    assert "ConfigMap 'acme-faq' key 'faq.yaml': entry 1: answer: Field required" in str(info.value)


async def test_entries_are_indexed_and_follow_a_changed_config_map(
    memo: kopf.Memo, kube: FakeKube, clean_db: SessionMaker, logger: logging.Logger
) -> None:
    kube.config_maps[("tenants-a", "acme-faq")] = {"faq.yaml": FAQ}
    body = with_config_map()
    status = await reconcile(body, memo, logger)
    assert status["phase"] == "Ready"
    assert await questions(clean_db) == ["Qual o prazo de entrega?", "Vocês entregam aos sábados?"]

    index: dict[tuple[str, str], list[TenantObject]] = {}
    for key, obj in handlers.index_config_maps(
        body=as_body(body), name="acme", namespace="tenants-a"
    ).items():
        index.setdefault(key, []).append(obj)
    assert set(index) == {("tenants-a", "acme-faq")}
    kube.config_maps[("tenants-a", "acme-faq")] = {
        "faq.yaml": FAQ + "- question: Tem loja física?\n  answer: Não, só online.\n"
    }
    await handlers.config_map_changed(
        event=cast(kopf.RawEvent, {"type": "MODIFIED", "object": {}}),
        name="acme-faq",
        namespace="tenants-a",
        memo=memo,
        logger=logger,
        tenant_config_maps=index,
    )
    assert (await questions(clean_db))[-1] == "Tem loja física?"
