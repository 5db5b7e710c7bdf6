"""Forgetting a customer while the bot is writing their reply: the turn, waiting on the model,
finds its rows gone when it comes back, so nothing of the customer returns to Postgres or to
Redis, the erasure says a turn was in flight, and repeating it removes what such a turn
cached just after."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import suppress

from services.core.privacy import requests
from tests.core.privacy.dump import dump_postgres, dump_redis, everything
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply

PHONE = "5511988887777"
WORDS = "ENDERECO Rua das Palmeiras 42"


async def test_a_turn_in_flight_does_not_bring_the_customer_back(harness: Harness) -> None:
    first = await harness.ingest("primeira mensagem PRIMEIRA", phone=PHONE)
    await harness.run(first)  # a context in Redis already
    harness.gemini.script(dataclasses.replace(Reply.text("Resposta tardia TARDIA"), delay=0.8))
    asked = harness.gemini.request_count
    inbound = await harness.ingest(WORDS, phone=PHONE)
    conversation = (await harness.inbound(inbound)).conversation_id
    turn = asyncio.create_task(harness.run(inbound))
    for _ in range(500):  # until the turn waits on the model
        if harness.gemini.request_count > asked:
            break
        await asyncio.sleep(0.02)
    assert harness.gemini.request_count > asked

    forgotten = await requests.forget_contact(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.cache,
        harness.deps.settings,
        "acme",
        PHONE,
        actor="cli",
    )
    assert forgotten.in_flight is True
    with suppress(Exception):  # its reply has no conversation left to be stored in
        await turn
    assert not [text for text in harness.delivered() if "TARDIA" in text]  # never sent
    await asyncio.sleep(0.2)

    stored = everything(await dump_postgres(harness.sessionmaker), await dump_redis(harness.redis))
    for words in (WORDS, "PRIMEIRA", "TARDIA", PHONE):
        assert words not in stored, words

    # A turn that cached its context just after the erasure: repeating the request removes it.
    await harness.redis.set(f"ctx:{conversation}", f"[{WORDS!r}]")
    again = await requests.forget_contact(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.cache,
        harness.deps.settings,
        "acme",
        PHONE,
        actor="cli",
    )
    assert again.redis.keys >= 1
    assert not await harness.redis.exists(f"ctx:{conversation}")
    assert not [k async for k in harness.redis.scan_iter(match="atende:privacy:pending:*")]
