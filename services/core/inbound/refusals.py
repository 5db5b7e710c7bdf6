"""A message refused on its own: its reason, how it is counted, and which failures mean that
Postgres refused the input rather than being unreachable.

Each refusal is answered by itself (400 for a body that is not acceptable JSON, 422 for JSON
that is not a message we can store) and counted by tenant and reason
(``atende_webhook_refusals_total``), so one sender's bad message never fails another's.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.core.errors import InvalidInput, SchemaViolation
from services.core.logging import get_logger
from services.core.metrics import WEBHOOK_REFUSALS

from .counts import counted

log = get_logger("services.core.inbound.receiver")  # where these lines were always logged

Reason = Literal[
    "not_json",  # not UTF-8 JSON at all
    "not_object",  # JSON, but not an object
    "json_constant",  # NaN, Infinity, -Infinity, or a float beyond double precision
    "number_too_long",  # an integer with more digits than any field of a message has
    "too_deep",  # nested deeper than any real message
    "schema",  # not a Baileys message / a Cloud API notification
    "too_long",  # a field longer than its column
    "refused_by_database",  # Postgres still refused it (after the batch was split)
]

# Connection-level failures mean "Postgres is unreachable"; anything else is about the input
# or a bug.
_DB_DOWN = (OperationalError, InterfaceError, OSError, asyncio.TimeoutError, ConnectionError)
# SQLSTATE classes that mean "this input cannot be stored": 22 data exception (too long, out of
# range, invalid text or JSON), 54 program limit exceeded (nesting, size).
_REFUSED_CLASSES = ("22", "54")


class RefusedBody(InvalidInput):
    """400: the body is not JSON we accept."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason


class RefusedMessage(SchemaViolation):
    """422: JSON, but not a message we can store."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: Reason = reason


def reason_of(exc: InvalidInput) -> Reason:
    if isinstance(exc, RefusedBody | RefusedMessage):
        return exc.reason
    return "schema" if isinstance(exc, SchemaViolation) else "not_json"


def tagged(exc: InvalidInput) -> InvalidInput:
    """The refusal with its reason leading its message, as every refusal answers."""
    if isinstance(exc, RefusedBody | RefusedMessage):
        return exc
    if isinstance(exc, SchemaViolation):
        return RefusedMessage("schema", exc.message)
    return RefusedBody("not_json", exc.message)


def count(tenant: str, exc: InvalidInput) -> None:
    WEBHOOK_REFUSALS.labels(tenant, reason_of(exc)).inc()


def refuse(tenant: str, exc: InvalidInput) -> InvalidInput:
    """Counted and logged; the refusal to raise, its reason leading its message."""
    counted(tenant, "invalid")
    count(tenant, exc)
    log.warning("webhook.refused", tenant=tenant, reason=reason_of(exc))
    return tagged(exc)


def is_db_down(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, _DB_DOWN)


def refused_by_postgres(exc: BaseException) -> bool:
    """Postgres (or the driver encoding for it) refused this input: storing it again fails
    the same way, so it is the sender's to fix, not ours to retry."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, UnicodeError):
            return True
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and state.startswith(_REFUSED_CLASSES):
            return True
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return False


def refused_by_database() -> RefusedMessage:
    return RefusedMessage("refused_by_database", "Postgres refused to store this message")
