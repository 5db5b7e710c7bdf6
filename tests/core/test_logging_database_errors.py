"""A database error in a log line shows its classes, SQLSTATE and the schema's names, never what
Postgres quoted from a customer (a unique violation's DETAIL names the phone): in our own JSON
lines, and in the lines and tracebacks libraries print through the standard library (arq's
failed job, uvicorn's "Exception in ASGI application", asyncio's "Task exception was never
retrieved"), also when it is the cause of another exception."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio
import structlog
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.core.logging import (
    MaskingFilter,
    configure_logging,
    database_error_text,
    format_exception,
    get_logger,
)

PHONE = "5511912345678"
NAME = "Marcelina Quaresma"
TABLE = "log_mask_contacts"
CONSTRAINT = "log_mask_contacts_phone_key"
DRIVER = "asyncpg.exceptions.UniqueViolationError: UniqueViolationError sqlstate=23505"
EXPECTED = f"IntegrityError(UniqueViolationError) sqlstate=23505 schema=public table={TABLE}"


class TurnFailed(RuntimeError):
    pass


@pytest_asyncio.fixture(loop_scope="session")
async def refused(engine: AsyncEngine) -> AsyncIterator[TurnFailed]:
    """A real unique violation from the test Postgres, raised on inside another error."""
    async with engine.connect() as connection:
        await connection.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        await connection.execute(
            text(f"CREATE TABLE {TABLE} (phone text CONSTRAINT {CONSTRAINT} UNIQUE, name text)")
        )
        await connection.commit()
        insert = text(f"INSERT INTO {TABLE} VALUES (:phone, :name)")
        await connection.execute(insert, {"phone": PHONE, "name": NAME})
        try:
            try:
                await connection.execute(insert, {"phone": PHONE, "name": NAME})
            except IntegrityError as exc:  # quoting the driver's own text, DETAIL and all
                driver = getattr(exc.orig, "__cause__", None)
                raise TurnFailed(f"storing the reply failed: {driver}") from exc
        except TurnFailed as failed:
            error = failed
        await connection.rollback()
        await connection.execute(text(f"DROP TABLE {TABLE}"))
        await connection.commit()
    driver = error.__cause__.orig.__cause__  # type: ignore[union-attr]
    assert isinstance(driver, asyncpg.UniqueViolationError)
    assert PHONE in (driver.detail or "")  # what Postgres said: Key (phone)=(…) already exists.
    yield error


def assert_masked(line: str) -> None:
    assert PHONE not in line
    assert NAME not in line
    assert "already exists" not in line


def test_the_text_names_the_error_and_our_schema_only(refused: TurnFailed) -> None:
    wrapper = refused.__cause__
    assert wrapper is not None
    assert database_error_text(wrapper) == f"{EXPECTED} constraint={CONSTRAINT}"


def test_a_traceback_hides_the_error_and_its_quote_in_the_outer_error(
    refused: TurnFailed,
) -> None:
    rendered = format_exception(refused)
    assert_masked(rendered)
    assert f"sqlalchemy.exc.IntegrityError: {EXPECTED}" in rendered
    assert f"{DRIVER} schema=public table={TABLE}" in rendered
    assert "The above exception was the direct cause of the following exception" in rendered
    # The outer error quoted str(exc): that quote is masked too, its own words stay.
    driver = f"UniqueViolationError sqlstate=23505 schema=public table={TABLE}"
    assert f"TurnFailed: storing the reply failed: {driver} constraint={CONSTRAINT}" in rendered
    assert f'File "{__file__}"' in rendered  # the frames stay, for the one who fixes it


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    saved = structlog.get_config()
    configure_logging("json")
    try:
        yield out
    finally:
        structlog.configure(**saved)


def test_our_json_lines_mask_it_in_exc_info_and_as_a_value(
    refused: TurnFailed, json_logs: io.StringIO
) -> None:
    log = get_logger("t")
    log.error("turn.failed", exc_info=refused)
    log.warning("turn.retry", error=refused.__cause__)
    first, second = (json.loads(line) for line in json_logs.getvalue().splitlines())
    assert_masked(json_logs.getvalue())
    assert f"sqlalchemy.exc.IntegrityError: {EXPECTED}" in first["exception"]
    assert second["error"] == f"{EXPECTED} constraint={CONSTRAINT}"


@pytest.fixture
def stdlib_logs() -> Iterator[io.StringIO]:
    """The libraries' loggers, written through the product's formatter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    loggers = [logging.getLogger(name) for name in ("arq.worker", "uvicorn.error", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield out
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def test_arq_and_uvicorn_lines_mask_it(refused: TurnFailed, stdlib_logs: io.StringIO) -> None:
    wrapper = refused.__cause__
    assert wrapper is not None
    try:
        raise refused
    except TurnFailed as exc:  # as arq logs a failed job: its message quotes str(exc)
        logging.getLogger("arq.worker").exception(
            "%6.2fs ! %s failed, %s: %s", 0.04, "in:3:process_inbound", "IntegrityError", wrapper
        )
        logging.getLogger("uvicorn.error").error("Exception in ASGI application\n", exc_info=exc)
    logged = stdlib_logs.getvalue()
    assert_masked(logged)
    assert f"in:3:process_inbound failed, IntegrityError: {EXPECTED}" in logged
    assert "uvicorn.error: Exception in ASGI application" in logged
    assert logged.count(f"sqlalchemy.exc.IntegrityError: {EXPECTED}") == 2


async def test_a_task_exception_never_retrieved_masks_it(
    refused: TurnFailed, stdlib_logs: io.StringIO
) -> None:
    async def fails() -> None:
        raise refused.__cause__  # type: ignore[misc]

    task = asyncio.get_running_loop().create_task(fails())
    await asyncio.wait([task])
    # What the event loop reports when such a task is garbage collected: the task's repr
    # quotes repr(exc).
    asyncio.get_running_loop().default_exception_handler(
        {"message": "Task exception was never retrieved", "exception": task.exception(),
         "future": task}
    )  # fmt: skip
    logged = stdlib_logs.getvalue()
    assert "asyncio: Task exception was never retrieved" in logged
    assert_masked(logged)
    assert f"exception={EXPECTED}" in logged


def test_a_crash_prints_its_traceback_masked() -> None:
    """A process that dies of one (sys.excepthook) prints it as masked as a log line."""
    crash = (
        "import asyncpg\n"
        "from services.core.logging import configure_logging\n"
        "configure_logging('json')\n"
        "error = asyncpg.UniqueViolationError('duplicate key value')\n"
        f"error.detail = 'Key (phone)=({PHONE}) already exists.'\n"
        "raise RuntimeError('the worker could not start') from error\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", crash], capture_output=True, text=True, timeout=60, check=False
    )
    assert ran.returncode == 1
    assert_masked(ran.stderr)
    assert DRIVER in ran.stderr
    assert "RuntimeError: the worker could not start" in ran.stderr


def test_a_handler_a_framework_installed_first_is_masked_too(
    refused: TurnFailed, json_logs: io.StringIO
) -> None:
    """The operator's kopf puts its own JSON handler on the root logger before ours."""
    out = io.StringIO()
    framework = logging.StreamHandler(out)
    framework.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(framework)
    try:
        configure_logging("json")
        logging.getLogger("kopf.objects").error("Handler 'apply' failed", exc_info=refused)
    finally:
        logging.getLogger().removeHandler(framework)
    line = json.loads(out.getvalue())
    assert_masked(out.getvalue())
    assert line["message"] == "Handler 'apply' failed"
    assert f"sqlalchemy.exc.IntegrityError: {EXPECTED}" in line["exc_info"]
