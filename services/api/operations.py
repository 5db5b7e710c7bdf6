"""The operations the panel's pages and ``/api/v1`` both offer, at the request boundary.

Here is what belongs to a request: the transaction, the caller's scope and role, what follows
the commit (dropping this process's cached tenant, announcing, queueing). The operation itself
is one core function, the same one the CLI calls, so it behaves alike whichever door it came
through: audited, announced, its jobs queued under ids of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.api.security import ensure
from services.api.state import AppState
from services.core import jobs
from services.core.auth.roles import Action, Principal, scope_of
from services.core.conversations.queries import ConversationDetail
from services.core.conversations.viewing import open_conversation as open_thread
from services.core.db import transaction
from services.core.dlq import audited
from services.core.dlq.service import list_dead_letters
from services.core.errors import AtendeError, InvalidInput
from services.core.models import DeadLetter, Tenant
from services.core.simulator.service import send_as_customer
from services.core.tenants import switches
from services.core.tenants.queries import visible_tenant as tenant_in_scope
from services.core.tenants.queries import visible_tenants as tenant_rows
from services.core.turns import switches as turn_switches


async def visible_tenants(state: AppState, principal: Principal) -> list[Tenant]:
    async with state.sessionmaker() as session:
        return await tenant_rows(session, scope_of(principal))


async def visible_tenant(state: AppState, principal: Principal, slug: str) -> Tenant:
    """NotFound outside the principal's scope, as for a tenant that does not exist."""
    async with state.sessionmaker() as session:
        return await tenant_in_scope(session, scope_of(principal), slug)


async def switchable_tenant(state: AppState, principal: Principal, slug: str) -> Tenant:
    """The tenant, if in scope and the principal's role may pause and resume it."""
    tenant = await visible_tenant(state, principal, slug)
    ensure(principal, Action.SWITCH, tenant.id)
    return tenant


async def _announce(state: AppState, result: switches.SwitchResult) -> None:
    if result.outcome == "updated":
        state.tenants.invalidate(result.name)  # this process at once, the others by notice
        await switches.announce(state.redis, result)


async def pause(state: AppState, slug: str, *, reason: str, actor: str) -> switches.SwitchResult:
    async with transaction(state.sessionmaker) as session:
        result = await switches.pause(session, slug, reason=reason, actor=actor)
    await _announce(state, result)
    return result


async def resume(state: AppState, slug: str, *, actor: str) -> int:
    """How many waiting conversations were queued again."""
    async with transaction(state.sessionmaker) as session:
        resumed = await turn_switches.resume(session, slug, actor=actor)
    await _announce(state, resumed.switch)  # before the jobs: workers must see it resumed
    return await turn_switches.queue_backlog(state.redis, resumed)


async def dead_letters(
    state: AppState, principal: Principal, *, show_all: bool = False
) -> list[DeadLetter]:
    async with state.sessionmaker() as session:
        return await list_dead_letters(
            session, status=None if show_all else "open", scope=scope_of(principal)
        )


async def replay(state: AppState, principal: Principal, ids: Sequence[int]) -> list[str]:
    """One outcome line per id; each replay is its own transaction, so one refusal stops none
    of the others."""
    outcomes = []
    for dead_letter_id in ids:
        try:
            async with transaction(state.sessionmaker) as session:
                letter = await audited.letter_in_scope(
                    session, dead_letter_id, principal.tenant_scope()
                )
                ensure(principal, Action.REPLAY, letter.tenant_id)
                done = await audited.replay(session, dead_letter_id, actor=principal.email)
        except AtendeError as exc:
            outcomes.append(f"#{dead_letter_id}: {exc.message}")
            continue
        queued = await audited.queue_replay(state.redis, done)
        outcomes.append(f"#{dead_letter_id}: replayed ({queued})")
    return outcomes


async def discard(state: AppState, principal: Principal, dead_letter_id: int, reason: str) -> str:
    try:
        async with transaction(state.sessionmaker) as session:
            letter = await audited.letter_in_scope(
                session, dead_letter_id, principal.tenant_scope()
            )
            ensure(principal, Action.REPLAY, letter.tenant_id)
            await audited.discard(session, dead_letter_id, reason=reason, actor=principal.email)
    except AtendeError as exc:
        return f"#{dead_letter_id}: {exc.message}"
    return f"#{dead_letter_id}: discarded"


async def open_conversation(
    state: AppState, principal: Principal, conversation_id: int
) -> ConversationDetail:
    """The thread, if in scope (else NotFound, as for a missing one); the view is audited."""
    async with transaction(state.sessionmaker) as session:
        return await open_thread(
            session, conversation_id, scope=scope_of(principal), actor=principal.email
        )


async def simulated_tenant(state: AppState, principal: Principal, slug: str) -> Tenant:
    tenant = await visible_tenant(state, principal, slug)
    ensure(principal, Action.SIMULATE, tenant.id)
    return tenant


async def say(state: AppState, principal: Principal, tenant: Tenant, text: str) -> int:
    """Store the simulated customer's message and queue its turn (after the commit)."""
    if not text.strip():
        raise InvalidInput("type a message")
    correlation_id = uuid.uuid4().hex
    async with transaction(state.sessionmaker) as session:
        inbound_id = await send_as_customer(
            session,
            tenant_id=tenant.id,
            user_id=principal.user_id,
            text=text,
            correlation_id=correlation_id,
        )
    debounce = float(tenant.spec.get("conversation", {}).get("debounceSeconds", 0) or 0)
    await jobs.enqueue_inbound(
        state.redis, inbound_id, defer_seconds=debounce, correlation_id=correlation_id
    )
    return inbound_id
