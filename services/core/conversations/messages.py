"""A customer's message as a turn reads it: the text the model sees, once media is read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    kind: str
    text: str
    received_at: datetime


def burst_age(messages: Sequence[MessageRow], since: datetime | None = None) -> float:
    """Seconds since the first message, or since ``since`` when that is later (a replayed turn
    counts from its own start, not from its messages' arrival)."""
    start = min(m.received_at for m in messages)
    if since is not None:
        start = max(start, since)
    return (datetime.now(UTC) - start).total_seconds()
