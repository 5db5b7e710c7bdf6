"""One JSON error shape for everything the API refuses: ``{"error": code, "message": text}``."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError

from services.core.errors import AtendeError, TooManyRequests, Unauthorized


async def atende_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AtendeError)
    if isinstance(exc, Unauthorized):  # never say why
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    if isinstance(exc, TooManyRequests):
        return JSONResponse(
            {"error": exc.code, "message": exc.message},
            status_code=429,
            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
        )
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.status_code)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    return JSONResponse(
        {"error": "invalid_input", "message": "request failed validation", "problems": problems},
        status_code=422,
    )


def _is_nul_refusal(exc: BaseException) -> bool:
    """SQLSTATE 22021 (character_not_in_repertoire) anywhere down the cause chain."""
    cause: BaseException | None = exc
    while cause is not None:
        if getattr(cause, "sqlstate", None) == "22021":
            return True
        cause = cause.__cause__ or getattr(cause, "orig", None)
    return False


async def _database_refused_input(request: Request, exc: Exception) -> JSONResponse:
    """Text Postgres cannot store (a NUL character) is the caller's mistake, not ours."""
    assert isinstance(exc, DBAPIError)
    if not _is_nul_refusal(exc):
        raise exc
    return JSONResponse(
        {"error": "invalid_input", "message": "text with a NUL character is not accepted"},
        status_code=400,
    )


async def render_error(request: Request, exc: Exception) -> Response | None:
    """The answer the installed handlers give ``exc``, for a route served below FastAPI's
    exception handling (the Whaticket webhook); None for what they do not handle."""
    if isinstance(exc, AtendeError):
        return await atende_error(request, exc)
    if isinstance(exc, DBAPIError) and _is_nul_refusal(exc):
        return await _database_refused_input(request, exc)
    return None


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AtendeError, atende_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_refused_input)
