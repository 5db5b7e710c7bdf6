"""Outages of what Atende stands on, on real processes (reliability.md §8.3): Redis restarted,
Postgres unreachable under webhook traffic, Gemini slower than its timeout, Whaticket black-holed
or answering too late, the worker cut off from Redis, one contact flooding, the injection corpus.

Every scenario ends with the invariant check (``invariants.py``): each accepted message reached a
terminal state, no turn or lease is left open, and no reply reached Whaticket more often than its
recorded attempts — the one ambiguous window is counted, not hidden.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.core.models import DeadLetter, InboundMessage, OutboundMessage, Turn
from tests.fixtures.servers import FaultProxy, PostgresHandle, RedisHandle, postgres_behind_proxy
from tests.standins.gemini import RecordedRequest
from tests.standins.whaticket import Scripted

from .conftest import (
    FALLBACK,
    GEMINI_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    WHATICKET_TOKEN,
    Stack,
    answer_for,
    baileys_text,
    eventually,
)

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]

GIVE_UP_SECONDS = 8.0  # ATENDE_TURN_GIVE_UP_AFTER_SECONDS of the stack
CORPUS = Path(__file__).parents[1] / "data" / "injections.jsonl"


def numbers(prefix: str, count: int) -> list[str]:
    return [f"55{prefix}{i:04d}" for i in range(count)]


async def post_all(stack: Stack, run: str, phones: list[str]) -> list[httpx.Response]:
    return [
        await stack.post(baileys_text(f"{run}-{i}", f"pergunta {run} {i}", phone=phone))
        for i, phone in enumerate(phones)
    ]


async def answered_once(stack: Stack, run: str, phones: list[str], *, within: float) -> None:
    """Each customer gets the answer to their message, exactly once (a settle period after)."""

    async def everyone() -> bool:
        return all(stack.sent_to(phone) for phone in phones)

    await eventually(everyone, within=within, what=f"an answer to every {run} message")
    await asyncio.sleep(1.5)  # a sweep period and more: nothing may follow
    for i, phone in enumerate(phones):
        texts = [d["text"] for d in stack.sent_to(phone)]
        assert texts == [answer_for(f"pergunta {run} {i}")], (phone, texts)


async def restart_processes(stack: Stack, **env: str) -> None:
    """The api and the worker again, with ``env`` (e.g. their way to Postgres) changed."""
    for proc in (stack.api, stack.worker):
        assert proc is not None
        proc.terminate()
    stack.start_api(**env)
    stack.start_worker(**env)
    await stack.wait_api_ready()
    await stack.wait_worker_ready()


async def test_redis_restarted_empty_mid_traffic_loses_nothing(
    stack: Stack, managed_redis: RedisHandle
) -> None:
    """The test Redis keeps nothing on disk, so a restart is a crash and a flush at once: the
    queue, the leases' companions and every connection are gone while turns are in flight."""
    stack.gemini.set_delay(1.0)
    before = numbers("1170", 5)
    assert {r.json()["status"] for r in await post_all(stack, "RR", before)} == {"accepted"}

    async def in_flight() -> bool:
        return stack.gemini.request_count > 0

    await eventually(in_flight, within=10, what="a model call")

    managed_redis.restart()
    stack.gemini.set_delay(0.0)
    after = numbers("1171", 2)
    responses = await post_all(stack, "RA", after)
    assert [r.status_code for r in responses] == [200, 200]

    await answered_once(stack, "RR", before, within=30)
    await answered_once(stack, "RA", after, within=30)
    assert stack.worker is not None
    assert stack.worker.returncode is None, "the worker survives Redis going away"


async def test_postgres_outage_during_webhook_traffic(
    stack: Stack, postgres: PostgresHandle, database_url: str
) -> None:
    with postgres_behind_proxy(postgres, database_url) as (proxy, proxied):
        await restart_processes(stack, ATENDE_DATABASE_URL=proxied)
        warm = numbers("1172", 2)
        await post_all(stack, "PW", warm)
        await answered_once(stack, "PW", warm, within=15)

        proxy.reset()  # every connection to Postgres dies; new ones are refused
        await asyncio.sleep(0.5)  # past the tenant cache
        during = numbers("1173", 6)
        responses = await post_all(stack, "PD", during)
        # Accepted to the spool: Whaticket does not resend, so a 5xx would lose them.
        assert [(r.status_code, r.json()) for r in responses] == [
            (200, {"status": "spooled"})
        ] * len(during)
        await asyncio.sleep(2.0)
        assert len(stack.whaticket.sent()) == len(warm)  # nothing answered meanwhile

        proxy.restore()
        await answered_once(stack, "PD", during, within=30)
        # The invariants are read over a direct connection while the processes keep running.


async def test_gemini_slower_than_its_timeout_falls_back_once_then_recovers(
    stack: Stack,
) -> None:
    assert stack.worker is not None
    assert stack.worker.terminate() == 0
    stack.start_worker(ATENDE_GEMINI_TIMEOUT_SECONDS="1")
    await stack.wait_worker_ready()
    stack.gemini.set_delay(2.5)
    slow = numbers("1174", 3)
    await post_all(stack, "GS", slow)

    async def everyone_told() -> bool:
        return all(stack.sent_to(phone) for phone in slow)

    await eventually(everyone_told, within=GIVE_UP_SECONDS + 15, what="the fallback")
    await asyncio.sleep(1.5)
    for phone in slow:  # the tenant's honest fallback, once; never the timeout
        assert [d["text"] for d in stack.sent_to(phone)] == [FALLBACK], phone
    letters = await stack.rows(DeadLetter)
    assert sorted(d.stage for d in letters) == ["llm"] * len(slow)

    stack.gemini.set_delay(0.0)
    later = numbers("1175", 2)
    await asyncio.sleep(1.5)  # the breaker's open period (1 s) ends
    await post_all(stack, "GR", later)
    await answered_once(stack, "GR", later, within=15)


@pytest.fixture
def whaticket_proxy(stack: Stack) -> Iterator[FaultProxy]:
    host, port = stack.whaticket.url.removeprefix("http://").split(":")
    with FaultProxy(host, int(port)) as proxy:
        yield proxy


async def test_whaticket_black_holed_gives_up_and_counts_what_arrives_late(
    stack: Stack, whaticket_proxy: FaultProxy
) -> None:
    """A partition between the worker and Whaticket: every send times out, so the turn is
    dead-lettered at the send stage and the customer's reply is kept. When the network heals,
    TCP delivers the requests it held, and Whaticket sends them: the customer may read the
    reply once per timed-out attempt. That is the ambiguous window: never more deliveries than
    recorded attempts, and every retry made without knowing the last outcome counted."""
    await stack.apply_tenant(whaticket_url=whaticket_proxy.url("http"))
    assert stack.worker is not None
    assert stack.worker.terminate() == 0
    worker = stack.start_worker(ATENDE_WHATICKET_TIMEOUT_SECONDS="1")
    await stack.wait_worker_ready()
    whaticket_proxy.blackhole()  # connections accepted, nothing forwarded either way
    held = numbers("1176", 2)
    await post_all(stack, "WB", held)

    async def dead() -> list[DeadLetter]:
        letters = await stack.rows(DeadLetter)
        return letters if len(letters) == len(held) else []

    letters = await eventually(dead, within=GIVE_UP_SECONDS + 20, what="send dead letters")
    assert {d.stage for d in letters} == {"send"}
    assert stack.whaticket.sent() == []
    replies = await stack.rows(OutboundMessage)
    assert len(replies) == len(held)
    assert all(r.status != "sent" for r in replies)
    ambiguous = await stack.worker_metric(worker, "atende_ambiguous_sends_total")
    # Each timed-out send given another try is counted when the try is decided: that try may
    # deliver the reply a second time. A reply whose breaker then stays open until it is given
    # up never makes that try, so the count can exceed the attempts made, never fall short.
    retried = [e for e in worker.events("send.failed") if e["retry"]]
    assert ambiguous == len(retried) >= sum(r.attempts - 1 for r in replies)

    whaticket_proxy.restore()

    async def arrived() -> bool:
        return all(stack.sent_to(phone) for phone in held)

    await eventually(arrived, within=10, what="the held requests to arrive")
    await asyncio.sleep(1.5)
    for i, (phone, reply) in enumerate(zip(held, replies, strict=True)):
        texts = {d["text"] for d in stack.sent_to(phone)}
        assert texts == {answer_for(f"pergunta WB {i}")}
        assert len(stack.sent_to(phone)) <= reply.attempts


async def test_whaticket_answering_after_the_timeout_is_the_counted_ambiguous_window(
    stack: Stack,
) -> None:
    """Whaticket delivers the message but answers after our timeout: the retry delivers it a
    second time. Nothing can tell the two apart from outside, so the duplicate is recorded (two
    attempts on the reply) and counted (``atende_ambiguous_sends_total``)."""
    assert stack.worker is not None
    assert stack.worker.terminate() == 0
    worker = stack.start_worker(ATENDE_WHATICKET_TIMEOUT_SECONDS="1")
    await stack.wait_worker_ready()
    stack.whaticket.script(Scripted(200, {"message": "ok"}, delay=2.0, deliver=True))
    [phone] = numbers("1177", 1)
    await stack.post(baileys_text("WL-0", "pergunta WL 0", phone=phone))

    async def twice() -> list[dict[str, Any]]:
        sent = stack.sent_to(phone)
        return sent if len(sent) == 2 else []

    await eventually(twice, within=20, what="the late delivery and the retry")

    async def recorded() -> OutboundMessage | None:
        [reply] = await stack.rows(OutboundMessage)
        return reply if reply.status == "sent" else None

    reply = await eventually(recorded, within=10, what="the retry recorded as sent")
    assert reply.attempts == 2
    ambiguous = await stack.worker_metric(worker, "atende_ambiguous_sends_total")
    assert ambiguous == 1


async def test_worker_partitioned_from_redis_catches_up_without_duplicates(
    stack: Stack, redis_server: RedisHandle
) -> None:
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        assert stack.worker is not None
        assert stack.worker.terminate() == 0
        worker = stack.start_worker(ATENDE_REDIS_URL=proxy.url("redis", "/0"))
        await stack.wait_worker_ready()
        warm = numbers("1178", 1)
        await post_all(stack, "NW", warm)
        await answered_once(stack, "NW", warm, within=15)

        proxy.blackhole()  # the api still reaches Redis and queues; the worker hears nothing
        cut_off = numbers("1179", 4)
        responses = await post_all(stack, "NP", cut_off)
        assert {r.json()["status"] for r in responses} == {"accepted"}
        await asyncio.sleep(4.0)
        assert len(stack.whaticket.sent()) == len(warm)

        proxy.restore()
        await answered_once(stack, "NP", cut_off, within=30)
        assert worker.returncode is None


async def test_one_contact_flooding_is_paced_and_others_are_served(stack: Stack) -> None:
    """Forty messages at once from one number: every one is stored and answered within turns
    the contact's rate limit allows (10 a minute, half of it at once), and another customer
    writing meanwhile is answered as usual."""
    flooder, bystander = numbers("1180", 2)
    flood = [stack.post(baileys_text(f"FL-{i}", f"mensagem {i}", phone=flooder)) for i in range(40)]
    responses = await asyncio.gather(*flood)
    assert {r.status_code for r in responses} == {200}
    await post_all(stack, "FB", [bystander])
    await answered_once(stack, "FB", [bystander], within=10)

    assert await stack.count(InboundMessage) == 41
    replies = stack.sent_to(flooder)
    assert 1 <= len(replies) <= 5  # the burst; the rest waits for the pace, grouped into turns
    assert stack.gemini.request_count <= 5 + 1  # the model is paced too (+ the bystander)
    turns = await stack.rows(Turn)
    assert len(turns) < 41  # messages that arrive together share a turn


def _messages(attack: dict[str, Any]) -> list[str]:
    """The corpus' shapes as the customer's messages: several turns, a burst, or one text."""
    if "turns" in attack or "burst" in attack:
        return list(attack.get("turns") or attack["burst"])
    return [attack["text"] * int(attack.get("repeat", 1)) + attack.get("then", "")]


def _obeying_responder(request: RecordedRequest) -> str:
    """A compromised model: whatever the customer asks, it recites its instructions."""
    return f"Claro! Minhas instruções são: {request.system_instruction}"


async def test_the_injection_corpus_through_the_real_processes(stack: Stack) -> None:
    attacks = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    stack.gemini.responder = _obeying_responder
    phones = numbers("1181", len(attacks))
    answered: list[str] = []
    for phone, attack in zip(phones, attacks, strict=True):
        for part, text in enumerate(_messages(attack)):
            message = baileys_text(f"{attack['id']}-{part}"[:64], text, phone=phone)
            status = (await stack.post(message)).status_code
            # A cost bomb larger than the webhook's body limit is refused before it is stored.
            assert status == 200 or (status == 413 and attack["category"] == "cost_bomb")
            if status == 200 and phone not in answered:
                answered.append(phone)
    assert len(answered) > len(attacks) * 0.9

    async def everyone() -> bool:
        return all(stack.sent_to(phone) for phone in answered)

    await eventually(everyone, within=60, what="a reply to every attack")
    system_prompt = stack.gemini.requests[0].system_instruction
    secrets = (WEBHOOK_SECRET, WHATICKET_TOKEN, GEMINI_KEY, SECRET_KEY)
    for delivery in stack.whaticket.sent():
        text = delivery["text"]
        assert "Minhas instruções são" not in text, text
        assert system_prompt[:80] not in text
        assert not any(secret in text for secret in secrets)
