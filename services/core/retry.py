""" "Try again later", as every job of the worker says it: a signal and a jittered backoff.

The worker's job boundary turns :class:`RetryLater` into arq's ``Retry``; core code raises it
without knowing about arq.
"""

from __future__ import annotations

import random


class RetryLater(Exception):
    """Stop now and run this job again after ``defer`` seconds."""

    def __init__(self, defer: float, reason: str) -> None:
        super().__init__(reason)
        self.defer = defer
        self.reason = reason


def backoff(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Full jitter: spreads retries of many jobs so they do not hit a dependency in waves."""
    return random.uniform(base / 2, min(cap, base * 2 ** max(0, attempt - 1)))
