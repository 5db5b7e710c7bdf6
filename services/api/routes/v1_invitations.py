"""``/api/v1/users/invitations``: invite an e-mail with a role (the answer carries the one-time
link to pass on, shown only then), list the open invitations, revoke one. Accepting is the
link's page, ``/panel/invite/{token}``."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.api import invitation_operations as invitations
from services.api.deps import RowId, StateDep
from services.api.security import ApiUser
from services.core.auth.invitations import link as invitation_link
from services.core.auth.roles import Role

router = APIRouter()


class NewInvitation(BaseModel):
    email: str = Field(max_length=200)
    role: Role
    tenant: str | None = Field(default=None, max_length=100)  # a platform admin's choice


class Invitation(BaseModel):
    id: int
    email: str
    role: str
    tenant: str | None
    expires_at: datetime
    invited_by: str | None = None
    link: str | None = None  # only when it is created


@router.post("/users/invitations", response_model=Invitation, status_code=201)
async def invite(
    request: Request, state: StateDep, principal: ApiUser, body: NewInvitation
) -> Invitation:
    """A one-time link for ``email`` (72 h); inviting the e-mail again replaces it."""
    issued = await invitations.invite(state, principal, body.email, body.role, body.tenant)
    link = invitation_link(str(request.base_url), issued.token)
    return Invitation(
        id=issued.invitation_id, email=issued.email, role=issued.role, tenant=issued.tenant,
        expires_at=issued.expires_at, link=link,
    )  # fmt: skip


@router.get("/users/invitations", response_model=list[Invitation])
async def pending(state: StateDep, principal: ApiUser) -> list[Invitation]:
    """The invitations still open that you may manage, newest first."""
    found = await invitations.pending(state, principal)
    return [Invitation.model_validate(p, from_attributes=True) for p in found]


@router.post("/users/invitations/{invitation_id}/revoke")
async def revoke(state: StateDep, principal: ApiUser, invitation_id: RowId) -> dict[str, bool]:
    """The link stops opening (404 when no open invitation of yours has this id)."""
    await invitations.revoke(state, principal, invitation_id)
    return {"changed": True}
