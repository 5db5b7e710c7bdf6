"""Structured logs: JSON lines in the cluster, readable lines in a terminal.

One correlation id follows a customer message from the webhook through the worker to the send:
it is bound with :func:`bind_correlation_id` and stored on the message and turn rows, so a worker
on another machine binds the same id again. Values under secret-looking keys are masked before any
renderer sees them, and customers' e-mail addresses and long numbers (phones, CPFs) are masked
in every other text value.

A database error's text quotes what Postgres refused (a phone in a unique violation's DETAIL, a
message in a trigger's RAISE, a value that is not a number), so no log line ever prints it: our
own lines, the libraries' (arq's failed jobs, uvicorn's "Exception in ASGI application",
asyncio's "Task exception was never retrieved") and their tracebacks show a database error as
its class, its SQLSTATE and the schema's names (:func:`database_error_text`), and whatever it
was raised from as its class alone.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog
from sqlalchemy.exc import StatementError

_SECRET_KEY = re.compile(r"(secret|token|password|api_key|apikey|authorization|cookie)", re.I)
# Capability secrets in paths: a webhook's, and a panel invitation link's one-time token.
_HOOK_PATH = re.compile(r"(/hooks/whaticket/[^/\s]+/[^/\s]+/|/panel/invite/)[^/\s?]+")
MASK = "***"
# Personal data in free text: e-mail addresses, and phone, CPF or card numbers (8+ digits,
# maybe punctuated). The last two digits stay, so a line can still be told from another.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_NUMBER = re.compile(r"(?<![\w.])\+?\d[\d\s().-]{4,}\d(?=\d{2}\b)")
# Identifiers that are ours, never a customer's.
_OWN_KEYS = re.compile(r"(^|_)(id|ids|event|timestamp|level|logger)$")


def mask_pii(text: str) -> str:
    """``maria@x.com`` → ``***@***``; ``5511999998888`` → ``***88``."""
    return _LONG_NUMBER.sub(MASK, _EMAIL.sub("***@***", text))


def mask_hook_path(path: str) -> str:
    """Hide the capability secret of a webhook URL: ``/hooks/whaticket/t/c/***``."""
    return _HOOK_PATH.sub(r"\1" + MASK, path)


# The driver's and SQLAlchemy's wrappers of what Postgres (or encoding for it) refused.
_DRIVERS = ("asyncpg", "sqlalchemy.dialects", "sqlalchemy.connectors")
# What a Postgres error names that is ours, never a customer's: label, attribute.
_FIELDS = (
    ("sqlstate", "sqlstate"),
    ("schema", "schema_name"),
    ("table", "table_name"),
    ("column", "column_name"),
    ("datatype", "data_type_name"),
    ("constraint", "constraint_name"),
)
# What a trigger's RAISE … USING could set to anything, checked to be an identifier or a code.
_IDENTIFIER = re.compile(r"[A-Za-z_][\w$]{0,62}|[0-9A-Z]{5}")
_QUOTED_MIN = 6  # shorter texts of an error are left alone in a message ("error", "None")
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, StatementError) or type(exc).__module__.startswith(_DRIVERS)


def database_error_text(exc: BaseException) -> str:
    """``IntegrityError(UniqueViolationError) sqlstate=23505 table=contacts constraint=…``:
    the classes, down to the driver's own error, and what it names of our schema; never its
    message, DETAIL, HINT, context or statement."""
    found: dict[str, str] = {}
    wrapped = [e for e in _wrapped(exc) if is_database_error(e)] or [exc]
    for current in wrapped:
        for label, attribute in _FIELDS:
            value = getattr(current, attribute, None)
            if label not in found and isinstance(value, str) and _IDENTIFIER.fullmatch(value):
                found[label] = value
    name, innermost = type(exc).__name__, type(wrapped[-1]).__name__
    if innermost != name:
        name += f"({innermost})"
    return " ".join([name, *(f"{label}={value}" for label, value in found.items())])


def _wrapped(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver's error it wraps (``orig``), and the one that was raised from."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def _exceptions(exc: BaseException | None, seen: set[int]) -> Iterator[BaseException]:
    """``exc`` and everything it was raised from, wraps, or groups."""
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                yield from _exceptions(inner, seen)
        orig = getattr(exc, "orig", None)
        if isinstance(orig, BaseException):
            yield from _exceptions(orig, seen)
        exc = exc.__cause__ or exc.__context__


def _database_errors(found: list[BaseException]) -> list[BaseException]:
    seen: set[int] = set()
    return [e for exc in found for e in _exceptions(exc, seen) if is_database_error(e)]


def _unquoted(text: str, errors: list[BaseException]) -> str:
    """``text`` with every rendering of each database error (its repr, str, message, DETAIL,
    HINT) replaced by :func:`database_error_text`, longest first; e-mails and phones masked."""
    replacements: dict[str, str] = {}
    for exc in errors:
        quoted = [_safe_str(exc, repr), _safe_str(exc), *(a for a in exc.args if a is not None)]
        quoted += [getattr(exc, attribute, None) for attribute in ("message", "detail", "hint")]
        for piece in quoted:
            if isinstance(piece, str) and len(piece) >= _QUOTED_MIN:
                replacements.setdefault(piece, database_error_text(exc))
    for piece in sorted(replacements, key=len, reverse=True):
        if piece in text:
            text = text.replace(piece, replacements[piece])
    return mask_pii(text)


def _safe_str(exc: BaseException, render: Any = str) -> str:
    try:
        return str(render(exc))
    except Exception:
        return ""


def _qualified(cls: type[BaseException]) -> str:
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


def _chain(exc: BaseException, seen: set[int], hidden: bool) -> list[str]:
    seen.add(id(exc))
    database = is_database_error(exc)
    lines: list[str] = []
    cause, context = exc.__cause__, exc.__context__
    if cause is not None and id(cause) not in seen:
        lines += [*_chain(cause, seen, hidden or database), _CAUSE]
    elif context is not None and not exc.__suppress_context__ and id(context) not in seen:
        lines += [*_chain(context, seen, hidden or database), _CONTEXT]
    if exc.__traceback__ is not None:
        lines.append("Traceback (most recent call last):\n")
        lines += traceback.format_tb(exc.__traceback__)
    if database:
        message = database_error_text(exc)
    elif hidden:  # raised inside the driver while it handled a refused value: may quote it
        message = "(text hidden: under a database error)"
    else:  # it may quote one it was raised from
        message = _unquoted(_safe_str(exc), _database_errors([exc]))
    lines.append(
        f"{_qualified(type(exc))}: {message}\n" if message else f"{_qualified(type(exc))}\n"
    )
    if isinstance(exc, BaseExceptionGroup):
        for number, inner in enumerate(exc.exceptions, 1):
            lines.append(f"+---------------- {number} ----------------\n")
            lines += [
                "    " + line for line in "".join(_chain(inner, seen, hidden)).splitlines(True)
            ]
    return lines


def format_exception(exc: BaseException) -> str:
    """The traceback as Python prints it, but every database error shown by
    :func:`database_error_text`, what it was raised from by its class, and e-mails and phones
    in other errors' texts masked."""
    return "".join(_chain(exc, set(), hidden=False)).rstrip("\n")


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1] if exc_info is True else None


def _render_exception(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog's ``exc_info`` as :func:`format_exception` renders it (``exception``)."""
    exc_info = event.pop("exc_info", None)
    exc = _exception_of(exc_info) if exc_info else None
    if exc is not None:
        event["exception"] = format_exception(exc)
    return event


class MaskingFilter(logging.Filter):
    """Rewrites a standard library record (a library's line, and the traceback it prints)
    before any formatter sees it: no database error's text, e-mails and phones masked. The
    traceback moves to ``exc_text``, which every formatter prints (uvicorn's, kopf's JSON)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        quoted = [a for a in _args(record) if isinstance(a, BaseException)]
        try:
            message = record.getMessage()
        except Exception:  # the handler reports a record that cannot be formatted
            return True
        errors = _database_errors([e for e in (exc, *quoted) if e is not None])
        record.msg, record.args = _unquoted(message, errors), None
        if exc is not None:
            record.exc_info, record.exc_text = None, format_exception(exc)
        return True


def _args(record: logging.LogRecord) -> tuple[Any, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return tuple(args.values()) if isinstance(args, dict) else ()


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEY.search(key) and value is not None:
            event[key] = MASK
        elif isinstance(value, BaseException) and key != "exc_info":
            event[key] = (
                database_error_text(value)
                if is_database_error(value)
                else _unquoted(_safe_str(value), _database_errors([value]))
            )
        elif isinstance(value, str) and "/hooks/whaticket/" in value:
            event[key] = mask_hook_path(value)
        elif isinstance(value, str) and not _OWN_KEYS.search(key):
            event[key] = mask_pii(value)
    return event


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    _configure_process(fmt, level)
    # Libraries log through the standard library; keep them quiet, masked, on the same stream.
    logging.basicConfig(level=logging.WARNING, handlers=[_stderr_handler()])
    for handler in logging.getLogger().handlers:  # also one a framework put there first (kopf)
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())


def server_logging_config(fmt: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for a server that configures logging itself (uvicorn):
    its lines, and those of the processes it starts (``--workers``), which load only this, go
    through :class:`MaskingFilter` like every other library's."""
    factory = f"{__name__}.{logging_handler.__name__}"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"stderr": {"()": factory, "fmt": fmt, "log_level": level}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def logging_handler(fmt: str, log_level: str) -> logging.Handler:
    """The handler of :func:`server_logging_config`; it configures this process's structlog."""
    _configure_process(fmt, log_level)
    return _stderr_handler()


def _stderr_handler() -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    return handler


def _print_crash(cls: type[BaseException], exc: BaseException, tb: Any) -> None:
    """A crash's traceback, masked as a log line's (``sys.excepthook``)."""
    if issubclass(cls, KeyboardInterrupt):
        sys.__excepthook__(cls, exc, tb)
        return
    print(format_exception(exc), file=sys.stderr, flush=True)


def _print_thread_crash(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None or args.exc_type is SystemExit:  # as Python's own hook does
        return
    name = args.thread.name if args.thread is not None else "?"
    print(f"Exception in thread {name}:", file=sys.stderr)
    print(format_exception(args.exc_value), file=sys.stderr, flush=True)


def _configure_process(fmt: str, level: str) -> None:
    sys.excepthook = _print_crash
    threading.excepthook = _print_thread_crash
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
        _render_exception,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def bind_correlation_id(correlation_id: str | None) -> str:
    correlation_id = correlation_id or new_correlation_id()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
    return correlation_id


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
