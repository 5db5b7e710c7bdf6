"""What must hold after any fault, once the system has settled (reliability.md §8.3):

* every accepted message reached a terminal state (its turn answered, dead, expired or kept for
  a person; a superseded turn's messages moved on to the next one);
* no turn is left open and no conversation lease is held;
* one reply per turn: Whaticket received each stored reply at most once, beyond the re-sends
  the attempts column records (the ambiguous window: counted, never hidden).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select

from services.core.models import (
    OPEN_TURN_STATES,
    Contact,
    Conversation,
    InboundMessage,
    OutboundMessage,
    Turn,
)

from .conftest import Stack, eventually

TERMINAL = ("answered", "dead", "expired", "human")


async def _violations(stack: Stack) -> list[str]:
    problems = []
    async with stack.sessionmaker() as session:
        waiting = list(
            await session.scalars(select(InboundMessage.id).where(InboundMessage.turn_id.is_(None)))
        )
        open_turns = list(
            await session.scalars(select(Turn.id).where(Turn.status.in_(OPEN_TURN_STATES)))
        )
        placed = (
            await session.execute(
                select(InboundMessage.id, Turn.status).join(Turn, Turn.id == InboundMessage.turn_id)
            )
        ).all()
        leases = list(
            await session.scalars(
                select(Conversation.id).where(Conversation.lease_until > datetime.now(UTC))
            )
        )
        replies = (
            await session.execute(
                select(OutboundMessage, Contact.phone)
                .join(Conversation, Conversation.id == OutboundMessage.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .order_by(OutboundMessage.id)
            )
        ).all()
    if waiting:
        problems.append(f"messages never given to a turn: {waiting}")
    if open_turns:
        problems.append(f"turns left open: {open_turns}")
    stray = [m for m, status in placed if status not in TERMINAL]
    if stray:
        problems.append(f"messages whose turn is not terminal: {stray}")
    if leases:
        problems.append(f"conversation leases still held: {leases}")
    deliveries = Counter((item["number"], str(item["text"])) for item in stack.whaticket.sent())
    for reply, phone in replies:
        if reply.channel != "whaticket":
            continue
        allowed = max(1, reply.attempts)  # each recorded attempt may have reached Whaticket
        delivered = deliveries[(phone, reply.text)]
        if delivered > allowed:
            problems.append(
                f"reply {reply.id} delivered {delivered} times in {reply.attempts} attempt(s)"
            )
    return problems


async def check_invariants(stack: Stack, *, within: float = 30.0) -> None:
    async def settled() -> list[str] | None:
        return None if await _violations(stack) else ["ok"]

    try:
        await eventually(settled, within=within, what="the system to settle")
    except AssertionError:
        raise AssertionError("; ".join(await _violations(stack))) from None
