"""Structured logs: JSON lines in the cluster, readable lines in a terminal.

One correlation id follows a customer message from the webhook through the worker to the send:
it is bound with :func:`bind_correlation_id` and stored on the message and turn rows, so a worker
on another machine binds the same id again. Values under secret-looking keys are masked before any
renderer sees them.
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


def mask_hook_path(path: str) -> str:
    """Hide the capability secret of a webhook URL: ``/hooks/whaticket/t/c/***``."""
    return _HOOK_PATH.sub(r"\1" + MASK, path)


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key) and value is not None:
            event[key] = MASK
        elif isinstance(value, str) and "/hooks/whaticket/" in value:
            event[key] = mask_hook_path(value)
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
