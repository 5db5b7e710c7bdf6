"""Structured logs: JSON lines in the cluster, readable lines in a terminal.

One correlation id follows a customer message from the webhook through the worker to the send:
it is bound with :func:`bind_correlation_id` and stored on the message and turn rows, so a worker
on another machine binds the same id again. Values under secret-looking keys are masked before any
renderer sees them, and customers' e-mail addresses and long numbers (phones, CPFs) are masked
in every other text value.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEY = re.compile(r"(secret|token|password|api_key|apikey|authorization|cookie)", re.I)
_HOOK_PATH = re.compile(r"(/hooks/whaticket/[^/\s]+/[^/\s]+/)[^/\s?]+")
MASK = "***"
# Personal data in free text: e-mail addresses, and phone, CPF or card numbers (8+ digits,
# maybe punctuated). The last two digits stay, so a line can still be told from another.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"(?<![\w.])\+?\d(?:[\d\s().-]{6,}\d)?(?=\d{2}\b)")
# Identifiers that are ours, never a customer's.
_OWN_KEYS = re.compile(r"(^|_)(id|ids|event|timestamp|level|logger)$")


def mask_pii(text: str) -> str:
    """``maria@x.com`` → ``***@***``; ``5511999998888`` → ``***88``."""
    return _LONG_NUMBER.sub(MASK, _EMAIL.sub("***@***", text))


def mask_hook_path(path: str) -> str:
    """Hide the capability secret of a webhook URL: ``/hooks/whaticket/t/c/***``."""
    return _HOOK_PATH.sub(r"\1" + MASK, path)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key) and value is not None:
            event[key] = MASK
        elif isinstance(value, str) and "/hooks/whaticket/" in value:
            event[key] = mask_hook_path(value)
        elif isinstance(value, str) and not _OWN_KEYS.search(key):
            event[key] = mask_pii(value)
    return event


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library; keep them quiet and on the same stream.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def bind_correlation_id(correlation_id: str | None) -> str:
    correlation_id = correlation_id or new_correlation_id()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
    return correlation_id


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
