"""The conversation lease: one job at a time works on a conversation, and a dead worker's lease
lapses in seconds (it is renewed in the background, never held for long without it)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.core.conversations.service import acquire_lease, release_lease
from services.core.db import autocommit
from services.core.logging import get_logger
from services.core.retry import RetryLater
from services.core.runtime import Runtime

log = get_logger(__name__)


@asynccontextmanager
async def leased(deps: Runtime, conversation_id: int, owner: str) -> AsyncIterator[None]:
    """Hold the conversation's lease, renewed every third of its term; RetryLater if busy.
    Taking, renewing and releasing it are one statement each, committed on its own."""
    seconds = deps.settings.lease_seconds
    async with autocommit(deps.sessionmaker) as session:
        taken = await acquire_lease(session, conversation_id, owner, seconds)
    if not taken:
        raise RetryLater(1.0 + random.random(), "conversation busy")

    async def renew() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with autocommit(deps.sessionmaker) as session:
                    await acquire_lease(session, conversation_id, owner, seconds)
            except Exception as exc:  # keep renewing; the work checks the lease itself
                log.warning("lease.renew_failed", error=type(exc).__name__)

    renewer = asyncio.create_task(renew())
    try:
        yield
    finally:
        renewer.cancel()
        try:
            async with autocommit(deps.sessionmaker) as session:
                await release_lease(session, conversation_id, owner)
        except Exception as exc:  # the lease expires by itself
            log.warning("lease.release_failed", error=type(exc).__name__)
