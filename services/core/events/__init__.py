"""Workflow events for n8n, CRMs and other automations, sent as Standard Webhooks.

* :mod:`.emit`    — in the transaction of what happened, one ``event_deliveries`` row per
  subscription that wants the event (an outbox: nothing is sent before the commit).
* :mod:`.deliver` — a worker job per due row: signed POST, retries with backoff, and a
  subscription switched off after failing too often in a row.
"""

from __future__ import annotations

from .deliver import (
    DeliveryOutcome,
    deliver,
    delivery_log,
    due_deliveries,
    enable_subscription,
    recent_deliveries,
)
from .emit import delivery, emit, record

__all__ = [
    "DeliveryOutcome",
    "deliver",
    "delivery",
    "delivery_log",
    "due_deliveries",
    "emit",
    "enable_subscription",
    "recent_deliveries",
    "record",
]
