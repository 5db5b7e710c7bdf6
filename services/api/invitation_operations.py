"""Invitations from the panel and ``/api/v1``, at the request boundary: the role check, the
transaction, the scope (a tenant admin invites into their own tenant only), and signing the
invitee in once their password is set. The rules are :mod:`services.core.auth.invitations`,
the same the CLI runs."""

from __future__ import annotations

from datetime import UTC, datetime

from services.api.security import ensure
from services.api.state import AppState
from services.core.auth import invitations
from services.core.auth.accounts import Manager
from services.core.auth.roles import Action, Principal, Role
from services.core.auth.sessions import SignedIn, sign_in
from services.core.auth.tokens import TokenKeys
from services.core.db import transaction
from services.core.models import UserInvitation
from services.core.tenants.queries import tenant_id_of


def _manager(principal: Principal) -> Manager:
    ensure(principal, Action.MANAGE_USERS, principal.tenant_scope())
    return Manager.of(principal)


async def invite(
    state: AppState, principal: Principal, email: str, role: Role, tenant: str | None
) -> invitations.Issued:
    manager = _manager(principal)
    async with transaction(state.sessionmaker) as session:
        tenant_id = None
        if manager.tenant_id is not None:
            tenant_id = manager.tenant_id  # no other name is looked up
        elif tenant:
            tenant_id = await tenant_id_of(session, tenant)
        return await invitations.invite(
            session, manager, email=email, role=role, tenant_id=tenant_id, now=datetime.now(UTC)
        )


async def pending(state: AppState, principal: Principal) -> list[invitations.Pending]:
    manager = _manager(principal)
    async with state.sessionmaker() as session:
        return await invitations.pending_invitations(session, manager, now=datetime.now(UTC))


async def revoke(state: AppState, principal: Principal, invitation_id: int) -> None:
    manager = _manager(principal)
    async with transaction(state.sessionmaker) as session:
        await invitations.revoke(session, manager, invitation_id, now=datetime.now(UTC))


async def opened(state: AppState, token: str) -> UserInvitation:
    async with state.sessionmaker() as session:
        return await invitations.opened(session, token, now=datetime.now(UTC))


async def accept(state: AppState, token: str, password: str, ip: str | None) -> SignedIn:
    """The user created and signed in, in one transaction."""
    now = datetime.now(UTC)
    keys = TokenKeys.from_settings(state.settings)
    async with transaction(state.sessionmaker) as session:
        user = await invitations.accept(session, token, password, now=now)
        return await sign_in(
            session,
            keys,
            state.settings,
            email=user.email,
            password=password,
            ip=ip,
            now=now,
            verified=(user.password_hash, True),
        )
