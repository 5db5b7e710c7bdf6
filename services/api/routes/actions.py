"""``/api/v1/actions/{tenant}``: what a tenant's workflows (n8n, a CRM) may do to its
conversations — send the customer a message, hand one to a person, give one back to the bot,
close it — authenticated with one of the tenant's action API keys
(``spec.actions.apiKeySecretRefs``), never with a panel session."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.deps import StateDep
from services.core import jobs
from services.core.conversations import contacts
from services.core.conversations.service import latest_conversation
from services.core.db import transaction
from services.core.errors import NotFound, Unauthorized, Unavailable
from services.core.handoff import agent_actions, closing
from services.core.handoff.triggers import Trigger
from services.core.logging import get_logger
from services.core.outbound import workflow
from services.core.tenants.credentials import hash_webhook_secret, matches_any_hash
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import NAME_PATTERN

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1/actions", tags=["actions"])
ACTOR = "action-api"  # the audit log's actor for what a tenant's action key did
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


class SendRequest(BaseModel):
    phone: Phone
    text: str = Field(min_length=1, max_length=4096)


class MessageState(BaseModel):
    id: int
    status: Literal["pending", "sending", "sent", "failed", "unknown"] = Field(
        description="unknown: given up after an attempt whose outcome nobody could know"
    )
    conversation_id: int
    attempts: int
    last_error: str | None = Field(description="the last failure's class, never its text")
    sent_at: datetime | None

    @classmethod
    def of(cls, message: workflow.WorkflowMessage) -> MessageState:
        return cls.model_validate(message, from_attributes=True)


class Closed(BaseModel):
    was_with_a_person: bool
    ticket: closing.TicketPlan = Field(
        description="closing: the ticket is being closed; no_ticket: sandbox or simulator; "
        "not_configured: no whaticket.agent to close it with"
    )


class ContactDetails(BaseModel):
    phone: Phone
    email: str | None = Field(
        max_length=254,
        pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$",
        description="where replies go by e-mail when WhatsApp cannot deliver them; null clears it",
    )


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


async def _conversation(session: AsyncSession, tenant: TenantConfig, phone: str) -> int:
    conversation_id = await latest_conversation(session, tenant.id, phone)
    if conversation_id is None:
        raise NotFound("no conversation with this phone")
    return conversation_id


@router.post("/{tenant}/handoff", response_model=HandoffResult)
async def hand_off(body: HandoffRequest, tenant: Acting, state: StateDep) -> HandoffResult:
    """Hand the contact's latest conversation to a person: its Whaticket ticket is moved the
    way the tenant's variant honours, and the bot stays quiet until it is given back."""
    async with transaction(state.sessionmaker) as session:
        conversation_id = await _conversation(session, tenant, body.phone)
        handoff_id = await agent_actions.hand_off(
            session,
            tenant,
            conversation_id,
            actor=ACTOR,
            trigger=Trigger.WORKFLOW,
            reason=body.reason,
            summary=body.summary,
        )
    await agent_actions.queue_transfer(state.redis, handoff_id)  # after the commit
    if handoff_id is None:
        return HandoffResult(handoff_id=None, status="already_with_a_person")
    log.info("action.handoff", tenant=tenant.slug, handoff_id=handoff_id)
    return HandoffResult(handoff_id=handoff_id, status="requested")


@router.post("/{tenant}/resume", response_model=Resumed)
async def give_back(body: ContactRef, tenant: Acting, state: StateDep) -> Resumed:
    """Give the contact's conversations back to the bot (a person is done with them)."""
    async with transaction(state.sessionmaker) as session:
        conversation_id = await latest_conversation(session, tenant.id, body.phone)
        resumed = (
            0
            if conversation_id is None
            else await agent_actions.give_back(session, tenant, conversation_id, actor=ACTOR)
        )
    log.info("action.resume", tenant=tenant.slug, resumed=resumed)
    return Resumed(resumed=resumed)


@router.post("/{tenant}/messages", response_model=MessageState, status_code=202)
async def send_message(
    body: SendRequest,
    tenant: Acting,
    state: StateDep,
    response: Response,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> MessageState:
    """Send the customer a message in their latest conversation, once per ``Idempotency-Key``:
    202 when this request stored it, 200 with the same message when the key was seen before
    (409 if that was another text). Poll ``GET .../messages/{id}`` for how it went."""
    async with transaction(state.sessionmaker) as session:
        queued = await workflow.queue_message(
            session, tenant, phone=body.phone, text=body.text, request_key=idempotency_key
        )
    if queued is None:
        raise NotFound("no conversation with this phone")
    message, created = queued
    if created:
        await jobs.enqueue_workflow_message(state.redis, message.id)  # the sweeper re-does it
        log.info("action.message", tenant=tenant.slug, message_id=message.id)
    else:
        response.status_code = 200
    return MessageState.of(message)


@router.get("/{tenant}/messages/{message_id}", response_model=MessageState)
async def message_status(
    message_id: Annotated[int, Path(ge=1, le=2**63 - 1)], tenant: Acting, state: StateDep
) -> MessageState:
    async with state.sessionmaker() as session:
        message = await workflow.message_status(session, tenant.id, message_id)
    if message is None:
        raise NotFound("no such message")
    return MessageState.of(message)


@router.post("/{tenant}/close", response_model=Closed)
async def close(body: ContactRef, tenant: Acting, state: StateDep) -> Closed:
    """The conversation is done: back to the bot, and the customer's Whaticket ticket closed
    by the tenant's agent user. Repeating it is harmless."""
    async with transaction(state.sessionmaker) as session:
        conversation_id = await _conversation(session, tenant, body.phone)
        closed = await agent_actions.close(session, tenant, conversation_id, actor=ACTOR)
    if not await agent_actions.queue_ticket_close(state.redis, conversation_id, closed):
        raise Unavailable("the conversation is back with the bot; repeat to close the ticket")
    log.info("action.close", tenant=tenant.slug, ticket=closed.ticket)
    return Closed(was_with_a_person=closed.was_with_a_person, ticket=closed.ticket)


@router.put("/{tenant}/contacts", response_model=ContactDetails)
async def set_contact(body: ContactDetails, tenant: Acting, state: StateDep) -> ContactDetails:
    """What the tenant's CRM knows of a customer: the e-mail address of the fallback channel.
    The contact is created if the customer has not written yet."""
    async with transaction(state.sessionmaker) as session:
        await contacts.set_email(session, tenant.id, body.phone, body.email)
    log.info("action.contact", tenant=tenant.slug)
    return body
