"""``/api/v1/actions/{tenant}/contacts/…``: a tenant's own systems (its CRM, its DPO's
workflow) answer a data-subject request with one of the tenant's action API keys: ``export``
returns everything stored about a customer (docs/privacy.md), ``forget`` erases it and says
what it erased. The key only reaches its own tenant's customers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.api import privacy_operations
from services.api.deps import StateDep

from .actions import ACTOR, Acting, ContactRef

router = APIRouter(prefix="/api/v1/actions", tags=["actions"])


class RedisErased(BaseModel):
    keys: int
    jobs: int
    spooled: int = Field(description="webhooks waiting in the spool")


class ForgetResult(BaseModel):
    subject: str = Field(description="the keyed hash the audit log names the customer by")
    erased: dict[str, int] = Field(description="rows erased per kind")
    audit_id: int
    redis: RedisErased
    in_flight: bool = Field(description="a turn held the conversation: repeat after it ends")


@router.post("/{tenant}/contacts/export")
async def export_contact(body: ContactRef, tenant: Acting, state: StateDep) -> dict[str, Any]:
    """Everything stored about the customer (``format: atende.contact-export/1``); ``found``
    false when nothing is."""
    return await privacy_operations.export_contact(
        state, tenant.slug, body.phone, [tenant.id], actor=ACTOR
    )


@router.post("/{tenant}/contacts/forget", response_model=ForgetResult)
async def forget_contact(body: ContactRef, tenant: Acting, state: StateDep) -> ForgetResult:
    """Erase the customer from Postgres and Redis, leaving one audit row; repeating it is
    harmless (it erases nothing more and is recorded again)."""
    done = await privacy_operations.forget_contact(
        state, tenant.slug, body.phone, [tenant.id], actor=ACTOR
    )
    return ForgetResult.model_validate(done.as_dict())
