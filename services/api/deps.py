"""Typed dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from .state import AppState


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool."""
    state: AppState = request.app.state.atende
    return state


StateDep = Annotated[AppState, Depends(get_state)]
# A row id as Postgres stores it (bigint): anything else is refused with 422, not a 500.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
