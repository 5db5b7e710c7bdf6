"""``/api/v1/actions/{tenant}``: what a tenant's workflows (n8n, a CRM) may do to its
conversations — hand one to a person, give one back to the bot — authenticated with one of the
tenant's action API keys (``spec.actions.apiKeySecretRefs``), never with a panel session."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.api.deps import StateDep
from services.core import jobs
from services.core.db import transaction
from services.core.errors import NotFound, Unauthorized
from services.core.handoff import service as handoffs
from services.core.handoff.summary import build_summary
from services.core.handoff.triggers import Trigger
from services.core.logging import get_logger
from services.core.models import Contact, Conversation
from services.core.tenants.credentials import hash_webhook_secret, matches_any_hash
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import NAME_PATTERN

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1/actions", tags=["actions"])
_bearer = HTTPBearer(auto_error=False, scheme_name="TenantActionKey")
TenantSlug = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63)]
Phone = Annotated[str, Field(pattern=r"^\d{8,20}$", description="digits only, with country code")]


class HandoffRequest(BaseModel):
    phone: Phone
    reason: str = Field(min_length=1, max_length=500)
    summary: str | None = Field(default=None, max_length=2000, description="for the agent")


class HandoffResult(BaseModel):
    handoff_id: int | None
    status: Literal["requested", "already_with_a_person"]


class ContactRef(BaseModel):
    phone: Phone


class Resumed(BaseModel):
    resumed: int = Field(description="conversations given back to the bot")


async def _tenant(
    state: StateDep,
    tenant: TenantSlug,
    key: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TenantConfig:
    """The tenant whose action key this is; 401 alike for a wrong key and an unknown tenant."""
    found = await state.tenants.by_slug(tenant)
    offered = hash_webhook_secret(key.credentials) if key is not None else ""
    if (
        found is None
        or not found.enabled
        or not matches_any_hash(offered, found.credentials.action_key_hashes)
    ):
        raise Unauthorized("a valid action API key for this tenant is required")
    return found


Acting = Annotated[TenantConfig, Depends(_tenant)]


@router.post("/{tenant}/handoff", response_model=HandoffResult)
async def hand_off(body: HandoffRequest, tenant: Acting, state: StateDep) -> HandoffResult:
    """Hand the contact's latest conversation to a person: its Whaticket ticket is moved the
    way the tenant's variant honours, and the bot stays quiet until it is given back."""
    async with transaction(state.sessionmaker) as session:
        conversation_id = await session.scalar(
            select(Conversation.id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.tenant_id == tenant.id, Contact.phone == body.phone)
            .order_by(Conversation.last_inbound_at.desc().nulls_last())
            .limit(1)
        )
        if conversation_id is None:
            raise NotFound("no conversation with this phone")
        handoff_id = await handoffs.request_handoff(
            session,
            tenant,
            conversation_id=conversation_id,
            turn_id=None,
            trigger=Trigger.WORKFLOW,
            reason=body.reason,
            summary=build_summary(
                trigger=Trigger.WORKFLOW,
                reason=body.reason,
                model_summary=body.summary,
                history=(),
                customer_texts=(),
            ),
        )
    if handoff_id is None:
        return HandoffResult(handoff_id=None, status="already_with_a_person")
    await jobs.enqueue_handoff(state.redis, handoff_id)  # after the commit; the watcher re-does it
    log.info("action.handoff", tenant=tenant.slug, handoff_id=handoff_id)
    return HandoffResult(handoff_id=handoff_id, status="requested")


@router.post("/{tenant}/resume", response_model=Resumed)
async def give_back(body: ContactRef, tenant: Acting, state: StateDep) -> Resumed:
    """Give the contact's conversations back to the bot (a person is done with them)."""
    async with transaction(state.sessionmaker) as session:
        resumed = await handoffs.resume_contact(session, tenant.id, tenant.slug, body.phone)
    log.info("action.resume", tenant=tenant.slug, resumed=resumed)
    return Resumed(resumed=resumed)
