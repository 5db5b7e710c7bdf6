"""Forgetting a customer while the bot is writing their reply: the turn, waiting on the model,
finds its rows gone when it comes back, so nothing of the customer returns to Postgres or to
Redis, the erasure says a turn was in flight, and repeating it removes what such a turn
cached just after."""

from __future__ import annotations

import asyncio
import dataclasses

from services.core.privacy import requests
from tests.core.privacy.dump import dump_postgres, dump_redis, everything
from tests.fixtures.turns import Harness
from tests.standins.gemini import Reply

PHONE = "5511988887777"
WORDS = "ENDERECO Rua das Palmeiras 42"


async def _forget(harness: Harness) -> requests.Forgotten:
    return await requests.forget_contact(
        harness.sessionmaker,
        harness.deps.redis,
        harness.deps.cache,
        harness.deps.settings,
        "acme",
        PHONE,
        actor="cli",
    )


async def _until_the_model_is_asked(harness: Harness, asked: int) -> None:
    for _ in range(500):
        if harness.gemini.request_count > asked:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the turn never asked the model")


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
    await turn  # it ends quietly: nothing left to answer
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


async def test_a_model_failure_after_the_erasure_ends_the_job_quietly(harness: Harness) -> None:
    """Gemini fails (a 500) after the customer was forgotten: the turn has nothing left to retry
    or dead-letter, so its job ends without an error and stores nothing of the customer."""
    harness.gemini.script(dataclasses.replace(Reply.error(500), delay=0.8))
    asked = harness.gemini.request_count
    inbound = await harness.ingest(WORDS, phone=PHONE)
    turn = asyncio.create_task(harness.run(inbound))
    await _until_the_model_is_asked(harness, asked)

    assert (await _forget(harness)).in_flight is True
    assert await turn == []  # no retry scheduled, no exception

    stored = everything(await dump_postgres(harness.sessionmaker), await dump_redis(harness.redis))
    for words in (WORDS, PHONE):
        assert words not in stored, words
    assert harness.delivered() == []
