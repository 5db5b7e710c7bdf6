"""Managing users from the panel and ``/api/v1``, at the request boundary: the role check,
the transaction, the scope (a tenant admin reaches only their own tenant's users). The changes
themselves are :mod:`services.core.auth.accounts`, the same the CLI runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.security import ensure
from services.api.state import AppState
from services.core.auth import accounts
from services.core.auth.roles import Action, Principal, Role
from services.core.db import transaction
from services.core.models import User
from services.core.tenants.queries import tenant_id_of

type Change[T] = Callable[[AsyncSession, accounts.Manager, User], Awaitable[T]]


def _manager(principal: Principal) -> accounts.Manager:
    ensure(principal, Action.MANAGE_USERS, principal.tenant_scope())
    return accounts.Manager.of(principal)


async def list_accounts(state: AppState, principal: Principal) -> list[accounts.Account]:
    manager = _manager(principal)
    async with state.sessionmaker() as session:
        return await accounts.accounts(session, manager)


async def change[T](state: AppState, principal: Principal, user_id: int, work: Change[T]) -> T:
    manager = _manager(principal)
    async with transaction(state.sessionmaker) as session:
        user = await accounts.managed_user(session, manager, user_id=user_id)
        return await work(session, manager, user)


async def set_active(state: AppState, principal: Principal, user_id: int, active: bool) -> bool:
    return await change(
        state, principal, user_id, lambda s, m, u: accounts.set_active(s, m, u, active)
    )


async def revoke_sessions(state: AppState, principal: Principal, user_id: int) -> int:
    return await change(
        state, principal, user_id, lambda s, m, u: accounts.revoke_sessions(s, m, u)
    )


async def reset_password(
    state: AppState, principal: Principal, user_id: int, password: str
) -> None:
    await change(
        state, principal, user_id, lambda s, m, u: accounts.reset_password(s, m, u, password)
    )


async def set_role(
    state: AppState, principal: Principal, user_id: int, role: Role, tenant: str | None
) -> bool:
    if principal.tenant_scope() is not None:
        tenant = None  # a tenant admin's users stay in their tenant: no other name is looked up

    async def work(session: AsyncSession, manager: accounts.Manager, user: User) -> bool:
        tenant_id = await tenant_id_of(session, tenant) if tenant else None
        return await accounts.set_role(session, manager, user, role, tenant_id)

    return await change(state, principal, user_id, work)
