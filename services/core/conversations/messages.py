"""A customer's message as a turn reads it: the text the model sees, once media is read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MessageRow:
    id: int
    kind: str
    text: str
    received_at: datetime
