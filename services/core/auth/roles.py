"""Roles and what each may do, checked on the server for every page and API call."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"  # every tenant
    TENANT_ADMIN = "tenant_admin"
    AGENT = "agent"
    VIEWER = "viewer"


class Action(StrEnum):
    VIEW = "view"
    SIMULATE = "simulate"
    REPLAY = "replay"
    HANDLE = "handle"  # hand a conversation to a person, give it back, resolve it
    SWITCH = "switch"
    EDIT_BOT = "edit_bot"  # the parts of its bot a tenant's admins edit (spec.delegation)
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"
    MANAGE_PLATFORM = "manage_platform"


_RANK = {Role.VIEWER: 0, Role.AGENT: 1, Role.TENANT_ADMIN: 2, Role.PLATFORM_ADMIN: 3}
_NEEDS = {
    Action.VIEW: Role.VIEWER,
    Action.SIMULATE: Role.AGENT,
    Action.REPLAY: Role.AGENT,
    Action.HANDLE: Role.AGENT,
    Action.SWITCH: Role.TENANT_ADMIN,
    Action.EDIT_BOT: Role.TENANT_ADMIN,
    Action.VIEW_AUDIT: Role.TENANT_ADMIN,
    Action.MANAGE_USERS: Role.TENANT_ADMIN,
    Action.MANAGE_PLATFORM: Role.PLATFORM_ADMIN,
}


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    email: str
    role: Role
    tenant_id: int | None  # None only for platform admins
    session_id: str

    def tenant_scope(self) -> int | None:
        """None: every tenant (platform admin); else the one tenant this user belongs to."""
        return None if self.role is Role.PLATFORM_ADMIN else self.tenant_id

    def can(self, action: Action, tenant_id: int | None = None) -> bool:
        """``tenant_id`` None means platform-wide, which only a platform admin may touch."""
        if _RANK[self.role] < _RANK[_NEEDS[action]]:
            return False
        if self.role is Role.PLATFORM_ADMIN:
            return True
        return tenant_id is not None and tenant_id == self.tenant_id


def scope_of(principal: Principal) -> list[int] | None:
    """The tenant ids a principal's queries are limited to; None means every tenant."""
    tenant = principal.tenant_scope()
    return None if tenant is None else [tenant]
