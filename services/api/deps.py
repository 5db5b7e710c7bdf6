"""Typed dependencies for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from .state import AppState


async def get_state(request: Request) -> AppState:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool."""
    state: AppState = request.app.state.atende
    return state


StateDep = Annotated[AppState, Depends(get_state)]
