"""Dead-letter operations shared by the pages and ``/api/v1``: scoped, audited, enqueued after
the commit with a new job id (a replay is never swallowed by arq's dedupe)."""

from __future__ import annotations

from collections.abc import Sequence

from services.api.state import AppState
from services.core import jobs
from services.core.audit.service import record
from services.core.auth.roles import Action, Principal
from services.core.db import transaction
from services.core.dlq import service as dlq
from services.core.errors import AtendeError, NotFound
from services.core.models import DeadLetter

from .security import ensure


async def listed(
    state: AppState, scope: list[int] | None, *, show_all: bool = False
) -> list[DeadLetter]:
    async with state.sessionmaker() as session:
        return await dlq.list_dead_letters(
            session, status=None if show_all else "open", scope=scope
        )


async def _letter(state: AppState, principal: Principal, dead_letter_id: int) -> DeadLetter:
    async with state.sessionmaker() as session:
        letter = await session.get(DeadLetter, dead_letter_id)
    scope = principal.tenant_scope()
    if letter is None or (scope is not None and letter.tenant_id != scope):
        raise NotFound(f"dead letter {dead_letter_id} not found")  # same answer: no probing
    ensure(principal, Action.REPLAY, letter.tenant_id)
    return letter


async def replay(state: AppState, principal: Principal, ids: Sequence[int]) -> list[str]:
    outcomes = []
    for dead_letter_id in ids:
        try:
            letter = await _letter(state, principal, dead_letter_id)
            async with transaction(state.sessionmaker) as session:
                done = await dlq.replay(session, dead_letter_id)
                await record(
                    session,
                    actor=principal.email,
                    action="dlq.replay",
                    tenant_id=letter.tenant_id,
                    details={"dead_letter_id": dead_letter_id},
                )
        except AtendeError as exc:
            outcomes.append(f"#{dead_letter_id}: {exc.message}")
            continue
        queued = await jobs.enqueue_inbound(
            state.redis, done.inbound_id, suffix=f"replay{dead_letter_id}"
        )
        outcomes.append(f"#{dead_letter_id}: replayed ({queued})")
    return outcomes


async def discard(state: AppState, principal: Principal, dead_letter_id: int, reason: str) -> str:
    try:
        letter = await _letter(state, principal, dead_letter_id)
        async with transaction(state.sessionmaker) as session:
            await dlq.discard(session, dead_letter_id, reason=reason)
            await record(
                session,
                actor=principal.email,
                action="dlq.discard",
                tenant_id=letter.tenant_id,
                details={"dead_letter_id": dead_letter_id, "reason": reason.strip()[:500]},
            )
    except AtendeError as exc:
        return f"#{dead_letter_id}: {exc.message}"
    return f"#{dead_letter_id}: discarded"
