"""A batch Postgres refuses, on real Postgres: it is stored again message by message, so the
culprit alone fails and every other message of the batch is stored and answered."""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from services.cli.admin import apply_file
from services.core.channels.baileys import NormalizedMessage
from services.core.coalesce import Coalescer
from services.core.db import SessionMaker
from services.core.inbound.batcher import PendingMessage, ingest_batch
from services.core.inbound.refusals import is_db_down, refused_by_postgres
from services.core.models import InboundMessage, Tenant
from tests.api.webhook_app import TENANT_YAML, make_settings


@pytest.fixture
async def tenant_id(
    clean_db: SessionMaker, database_url: str, redis_url: str, tmp_path: Path
) -> int:
    await apply_file(make_settings(database_url, redis_url, tmp_path), TENANT_YAML)
    async with clean_db() as session:
        found: int = (await session.execute(select(Tenant.id))).scalar_one()
    return found


def pending(tenant_id: int, msg_id: str, phone: str, text: str = "oi") -> PendingMessage:
    message = NormalizedMessage(msg_id, "text", text, phone, None, "Maria", None)
    return PendingMessage(tenant_id, "main", message, '{"k": 1}', "c0ffee", "shop")


async def stored_ids(sessionmaker: SessionMaker) -> set[str]:
    async with sessionmaker() as session:
        return set((await session.execute(select(InboundMessage.provider_msg_id))).scalars())


async def test_the_culprit_fails_alone_and_the_rest_of_its_batch_is_stored(
    clean_db: SessionMaker, tenant_id: int
) -> None:
    culprit = pending(tenant_id, "BAD", "9" * 40)  # longer than contacts.phone: never checked
    goods = [pending(tenant_id, f"OK-{i}", f"551199999000{i}") for i in range(4)]
    results = await ingest_batch(clean_db, [goods[0], goods[1], culprit, goods[2], goods[3]])
    assert isinstance(results[2], Exception)
    assert refused_by_postgres(results[2])
    assert not is_db_down(results[2])
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
    assert await stored_ids(clean_db) == {f"OK-{i}" for i in range(4)}


async def test_through_the_coalescer_only_the_culprit_s_caller_raises(
    clean_db: SessionMaker, tenant_id: int
) -> None:
    """Callers arriving together share a batch; each still gets its own answer."""
    coalescer: Coalescer[PendingMessage, int | None] = Coalescer(partial(ingest_batch, clean_db))
    items = [pending(tenant_id, f"C-{i}", f"551188888000{i}") for i in range(6)]
    items.insert(3, pending(tenant_id, "C-BAD", "5511", text="\x00"))  # NUL: text refuses it
    items.append(pending(tenant_id, "C-0", "5511888880000"))  # a duplicate in the same batch
    answers = await asyncio.gather(*(coalescer.submit(i) for i in items), return_exceptions=True)
    assert isinstance(answers[3], Exception)
    assert refused_by_postgres(answers[3])
    assert answers[-1] is None  # the duplicate
    assert all(isinstance(a, int) for a in answers[:3] + answers[4:-1])
    assert await stored_ids(clean_db) == {f"C-{i}" for i in range(6)}
