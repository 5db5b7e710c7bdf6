"""Forgetting a customer erases them from every table and every Redis key (the queue's jobs and
the spool included) and leaves every other customer — of the same tenant, and the same phone
at another tenant — exactly as it was; the export shows what there is to erase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from services.core.audit.service import verify
from services.core.models import AuditEvent
from services.core.privacy import requests
from services.core.privacy.subject import subject_hash
from services.core.privacy.volatile import cache_keys
from tests.core.privacy.dump import dump_postgres, dump_redis, everything
from tests.core.privacy.population import (
    ELSEWHERE,
    FORGOTTEN,
    NEIGHBOUR,
    apply_tenants,
    populate,
)
from tests.fixtures.turns import Harness


async def test_forget_leaves_nothing_of_the_customer_and_everything_of_the_others(
    harness: Harness, tmp_path: Path
) -> None:
    tenants = await apply_tenants(harness)
    await populate(harness, tenants, tmp_path)
    before = everything(await dump_postgres(harness.sessionmaker), await dump_redis(harness.redis))
    for customer in (FORGOTTEN, NEIGHBOUR, ELSEWHERE):
        for words in customer.words:
            assert words in before  # each customer's words are stored before the erasure
    assert "atende:spool" in before
    assert "arq:job:in:" in before
    assert "ctx:" in before

    forgotten = await requests.forget_contact(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.cache,
        harness.deps.settings,
        "acme",
        "+55 (11) 91111-0001",
        actor="cli",
    )

    assert forgotten.erasure.erased["messages"] == 4
    assert forgotten.erasure.erased["dead_letters"] == 1
    assert forgotten.erasure.erased["contacts"] == 1
    assert forgotten.erasure.erased["handoffs"] == 1
    assert forgotten.erasure.erased["events"] >= 2
    assert forgotten.redis.spooled == 1
    assert forgotten.redis.jobs >= 2
    postgres = await dump_postgres(harness.sessionmaker)
    redis = await dump_redis(harness.redis)
    after = everything(postgres, redis)
    for words in FORGOTTEN.words:
        assert words not in after
    for customer in (NEIGHBOUR, ELSEWHERE):
        for words in customer.words:
            assert words in after
    assert NEIGHBOUR.phone in after
    # The same phone at the other tenant is another customer: kept, and only there.
    acme, other = tenants["acme"].id, tenants["other"].id
    for table, rows in postgres.items():
        for row in rows:
            if FORGOTTEN.phone in row:
                assert f'"tenant_id":{acme}' not in row, (table, row)
                assert table != "audit_events"
    for key, value in redis.items():
        if FORGOTTEN.phone in value or FORGOTTEN.phone in key:
            assert key == "atende:spool", key
            assert '"tenant":"other"' in value

    async with harness.sessionmaker() as session:
        [audit] = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "contact.forgotten")
            )
        )
        check = await verify(session)
    assert audit.tenant_id == acme
    assert audit.actor == "cli"
    assert audit.details["subject"] == subject_hash(harness.deps.settings, acme, FORGOTTEN.phone)
    assert FORGOTTEN.phone not in json.dumps(audit.details)
    assert check.ok
    assert other != acme


async def test_forgetting_twice_erases_nothing_more_and_records_it_again(
    harness: Harness, tmp_path: Path
) -> None:
    tenants = await apply_tenants(harness)
    await populate(harness, tenants, tmp_path)
    args = (harness.sessionmaker, harness.deps.redis, harness.deps.cache, harness.deps.settings)
    first = await requests.forget_contact(*args, "acme", FORGOTTEN.phone, actor="cli")
    second = await requests.forget_contact(*args, "acme", FORGOTTEN.phone, actor="cli")
    assert sum(first.erasure.erased.values()) > 0
    assert sum(second.erasure.erased.values()) == 0
    assert second.erasure.subject == first.erasure.subject
    exported = await requests.export_contact(
        harness.sessionmaker, harness.deps.settings, "acme", FORGOTTEN.phone, actor="cli"
    )
    assert exported["found"] is False
    assert exported["conversations"] == []


async def test_the_export_holds_the_customers_messages_replies_handoffs_and_events(
    harness: Harness, tmp_path: Path
) -> None:
    tenants = await apply_tenants(harness)
    await populate(harness, tenants, tmp_path)
    exported = await requests.export_contact(
        harness.sessionmaker, harness.deps.settings, "acme", FORGOTTEN.phone, actor="cli"
    )
    text = json.dumps(exported, ensure_ascii=False)
    assert exported["format"] == "atende.contact-export/1"
    assert (exported["tenant"], exported["phone"], exported["found"]) == (
        "acme",
        FORGOTTEN.phone,
        True,
    )
    [contact] = exported["contacts"]
    assert contact["phone"] == FORGOTTEN.phone
    [conversation] = exported["conversations"]
    assert [m["text"] for m in conversation["messages"]] == [
        FORGOTTEN.words[0],
        f"{FORGOTTEN.words[0]} undelivered",
        FORGOTTEN.words[1],
        f"{FORGOTTEN.words[0]} again",
    ]
    [letter] = conversation["dead_letters"]
    assert FORGOTTEN.words[0] in json.dumps(letter["context"], ensure_ascii=False)
    assert conversation["messages"][0]["payload"]["key"]["remoteJid"].startswith(FORGOTTEN.phone)
    assert conversation["replies"]
    assert all(r["text"] for r in conversation["replies"])
    [handoff] = conversation["handoffs"]
    assert handoff["summary"]
    assert {e["event_type"] for e in exported["events"]} >= {"turn.answered", "handoff.requested"}
    for other in (*NEIGHBOUR.words, *ELSEWHERE.words):
        assert other not in text
    json.loads(text)  # plain JSON all the way down


@pytest.mark.parametrize("phone", ["123", "5511911110001" * 3, "not a phone"])
async def test_a_phone_that_cannot_be_one_is_refused(harness: Harness, phone: str) -> None:
    from services.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        await requests.export_contact(
            harness.sessionmaker, harness.deps.settings, "acme", phone, actor="cli"
        )


def test_the_cache_keys_are_the_ones_their_writers_build() -> None:
    from services.core.conversations import memory
    from services.core.privacy.subject import Subject
    from services.core.turns import pacing

    subject = Subject(7, "acme", "5511", (3,), (), (5,), (), (), (), ())
    keys = cache_keys(subject)
    assert memory._key(5) in keys
    assert memory._summary_key(5) in keys
    assert "handoff:reminded:5" in keys
    tenant = type("T", (), {"id": 7})()
    assert all(key in keys for key in pacing._episode_keys(tenant, 3))


async def test_the_disk_spool_of_this_host_loses_the_customers_webhooks_only(
    harness: Harness, tmp_path: Path
) -> None:
    from services.core.inbound.spool import LocalSpool
    from tests.core.privacy.population import spooled

    tenants = await apply_tenants(harness)
    disk = LocalSpool(tmp_path / "spool")
    for n, customer in enumerate((FORGOTTEN, NEIGHBOUR, ELSEWHERE, FORGOTTEN)):
        disk.append(spooled(customer, n))
    assert tenants["acme"].id
    done = await requests.forget_contact(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.cache,
        harness.deps.settings,
        "acme",
        FORGOTTEN.phone,
        actor="cli",
        spool_dir=tmp_path / "spool",
    )
    assert done.redis.spooled == 2
    left = [r for path in (tmp_path / "spool").glob("*.jsonl") for r in LocalSpool.read(path)]
    assert sorted((r.tenant, r.payload["key"]["id"]) for r in left) == [
        ("acme", "3EB0SPOOL0001"),
        ("other", "3EB0SPOOL0002"),
    ]
    assert disk.pending() == 2
    disk.append(spooled(NEIGHBOUR, 9))  # the writer goes on in a file of its own
    assert disk.pending() == 3
