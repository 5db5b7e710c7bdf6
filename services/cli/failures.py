"""Failures a user can act on, as one ``error: …`` line each, instead of a traceback.

A down Postgres, an unreachable Redis, a bad file or setting is not a bug: the command says what
failed and where, once, and exits 1. Anything else keeps its traceback (it is a bug to report).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import click
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from services.core.errors import AtendeError
from services.core.logging import database_error_text, is_database_error

# SQLSTATE classes of failing to connect (connection, authorization, unknown database, out of
# resources, server shutting down): their text names only the server's things.
_CONNECTING = ("08", "28", "3D", "53", "57")


class CommandFailed(click.ClickException):
    """Printed by click as ``error: <line>`` per line, exit code 1."""

    exit_code = 1

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines

    def show(self, file: object = None) -> None:
        for line in self.lines:
            click.echo(f"error: {line}", err=True)


def usage_line(exc: click.UsageError) -> str:
    """click's usage error in one line, pointing at the command's --help."""
    where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
    return exc.format_message().rstrip(".") + where


def _database_where() -> str:
    from services.core.config import get_settings

    try:
        url = make_url(get_settings().database_url)
    except (ValidationError, ArgumentError):
        return "Postgres"
    where = f"{url.host}:{url.port or 5432}" if url.host else url.query.get("host", "local")
    return f"Postgres at {where}/{url.database}"


def _redis_where() -> str:
    from services.core.config import get_settings

    try:
        parts = urlsplit(get_settings().redis_url)
    except ValidationError:
        return "Redis"
    return f"Redis at {parts.hostname}:{parts.port or 6379}"


def _setting(loc: tuple[int | str, ...]) -> str:
    return "ATENDE_" + "_".join(str(part) for part in loc).upper()


def _postgres_reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionError) and exc.errno:
        return os.strerror(exc.errno)  # asyncpg's text is "Connect call failed (…)"
    if not is_database_error(exc):  # the network's: unknown host, timed out
        return str(exc).strip() or type(exc).__name__
    driver = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        driver = exc.orig.__cause__ or exc.orig  # the driver's own, without SQLAlchemy's dump
    state = str(getattr(driver, "sqlstate", None) or "")
    if isinstance(driver, asyncpg.PostgresError) and state.startswith(_CONNECTING):
        return str(driver.args[0] if driver.args else driver).strip()  # not its DETAIL or HINT
    # A refused statement's text quotes what it was given (a customer's phone in a DETAIL).
    return database_error_text(exc)


def _raised_in_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).startswith("asyncpg"):
            return True
        tb = tb.tb_next
    return False


def explain(exc: BaseException) -> list[str] | None:
    """The lines to print for ``exc``, or None when it is a bug."""
    if isinstance(exc, AtendeError):
        return list(getattr(exc, "problems", None) or [exc.message])
    if isinstance(exc, ValidationError):
        return [
            (f"{_setting(err['loc'])}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors(include_url=False)
        ]
    if isinstance(exc, RedisError):
        return [f"cannot reach {_redis_where()}: {exc}"]
    if isinstance(exc, OSError):
        if _raised_in_asyncpg(exc):  # its connect: refused, unknown host, timed out
            return [f"cannot reach {_database_where()}: {_postgres_reason(exc)}"]
        return [str(exc)]  # e.g. the worker's metrics port already taken
    if isinstance(exc, asyncpg.PostgresError | DBAPIError):
        return [f"{_database_where()}: {_postgres_reason(exc)}"]
    return None
