"""After each measured run, read back from Postgres and the Whaticket stand-in that nothing was
lost and nothing doubled: every message the run put in belongs to exactly one answered turn, each
such turn stored one reply, and the stand-in received each reply exactly once (and nothing else
for those customers). ``make bench`` prints the sum and exits non-zero on any violation."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import text

from bench.harness import deliveries_since
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker
from tests.standins.whaticket import WhaticketStandIn

_MESSAGES = text(
    """SELECT m.id, m.turn_id, t.status, k.phone
       FROM inbound_messages m
       JOIN conversations c ON c.id = m.conversation_id
       JOIN contacts k ON k.id = c.contact_id
       LEFT JOIN turns t ON t.id = m.turn_id
       WHERE m.provider_msg_id LIKE :pattern"""
)
_REPLIES = text(
    """SELECT o.turn_id, o.channel, o.status, o.text FROM outbound_messages o
       WHERE o.turn_id = ANY(:turns)"""
)
_SHOWN = 5  # violations quoted per run; all are counted


async def _read(settings: Settings, prefix: str) -> tuple[list[Any], list[Any]]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            pattern = prefix.replace("_", r"\_").replace("%", r"\%") + "%"
            messages = list((await session.execute(_MESSAGES, {"pattern": pattern})).all())
            turns = sorted({m.turn_id for m in messages if m.turn_id is not None})
            replies = list((await session.execute(_REPLIES, {"turns": turns})).all())
    finally:
        await engine.dispose()
    return messages, replies


def check_run(
    name: str,
    settings: Settings,
    whaticket: WhaticketStandIn,
    prefix: str,
    expected: int,
    sent_from: int,
) -> dict[str, Any]:
    """The messages whose provider id starts with ``prefix`` (``expected`` of them were put in),
    against the stand-in's deliveries from index ``sent_from`` on."""
    messages, replies = asyncio.run(_read(settings, prefix))
    problems: list[str] = []
    if len(messages) != expected:
        problems.append(f"{expected - len(messages)} of {expected} messages not stored")
    for m in messages:
        if m.turn_id is None:
            problems.append(f"message {m.id} in no turn")
        elif m.status != "answered":
            problems.append(f"message {m.id}: turn {m.turn_id} is {m.status}")
    by_turn: dict[int, list[Any]] = defaultdict(list)
    for reply in replies:
        by_turn[reply.turn_id].append(reply)
    phone_of = {m.turn_id: m.phone for m in messages if m.turn_id is not None}
    phones = set(phone_of.values())
    deliveries = [d for d in deliveries_since(whaticket, sent_from) if d["number"] in phones]
    delivered = Counter((d["number"], str(d["text"])) for d in deliveries)
    for turn, phone in sorted(phone_of.items()):
        stored = [r for r in by_turn[turn] if r.channel == "whaticket"]
        if len(stored) != 1:
            problems.append(f"turn {turn}: {len(stored)} replies stored")
            continue
        times = delivered[(phone, stored[0].text)]
        if times != 1:
            problems.append(f"turn {turn}: its reply reached Whaticket {times} times")
    extra = len(deliveries) - sum(1 for r in replies if r.channel == "whaticket")
    if extra > 0:
        problems.append(f"{extra} deliveries to these customers beyond their stored replies")
    turns = len(phone_of)
    return {
        "run": name,
        "messages": expected,
        "stored": len(messages),
        "answered_turns": sum(1 for m in messages if m.status == "answered"),
        "turns": turns,
        "deliveries": len(deliveries),
        "violations": len(problems),
        "examples": problems[:_SHOWN],
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "messages": sum(r["messages"] for r in runs),
        "deliveries": sum(r["deliveries"] for r in runs),
        "violations": sum(r["violations"] for r in runs),
        "ok": all(r["violations"] == 0 for r in runs),
    }
