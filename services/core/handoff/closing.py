"""Closing a conversation when a tenant's workflow says it is done (the action API's close).

In the request: any handoff is resolved and the conversation is the bot's again. After the
commit, a job closes the customer's Whaticket ticket as the tenant's agent user — the way an
agent clicks "Resolver", which also ends the ticket's integration in SaaS builds
(``whaticket.md`` §3). The job is idempotent: a ticket already closed is not found among the
open ones, and nothing is done.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.errors import DependencyError, TransientError
from services.core.logging import get_logger
from services.core.metrics import TICKET_CLOSES
from services.core.models import Contact, Conversation
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import META_CONNECTION, SIMULATOR_CONNECTION

from .service import resume
from .transfer import agent_login

log = get_logger(__name__)
MAX_ATTEMPTS = 6
TicketPlan = Literal["closing", "no_ticket", "not_configured"]


def ticket_plan(tenant: TenantConfig, connection: str) -> TicketPlan:
    """What will happen to the Whaticket ticket: told to the caller before the job runs."""
    if tenant.spec.whaticket.url is None or connection in (SIMULATOR_CONNECTION, META_CONNECTION):
        return "no_ticket"
    return "closing" if agent_login(tenant) is not None else "not_configured"


async def close_conversation(
    session: AsyncSession, tenant: TenantConfig, conversation_id: int
) -> bool:
    """The database side of a close; True when a person had the conversation."""
    return await resume(session, conversation_id, resolution="workflow", tenant_slug=tenant.slug)


async def close_ticket(deps: Runtime, conversation_id: int, attempt: int) -> None:
    """The job: close the customer's open ticket; transient failures retry with backoff."""
    async with deps.sessionmaker() as session:
        row = (
            await session.execute(
                select(Conversation.tenant_id, Conversation.connection, Contact.phone)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.id == conversation_id)
            )
        ).one_or_none()
    if row is None:
        return
    tenant = await deps.tenants.by_id(row.tenant_id)
    if tenant is None or row.phone is None or ticket_plan(tenant, row.connection) != "closing":
        return
    login = agent_login(tenant)
    assert login is not None  # ticket_plan said so
    try:
        ticket = await deps.desk.find_ticket(login, row.phone)
        if ticket is None:
            TICKET_CLOSES.labels(tenant.slug, "already_closed").inc()
            return
        await deps.desk.move_ticket(login, ticket.id, {"status": "closed"})
    except DependencyError as exc:
        if isinstance(exc, TransientError) and attempt < MAX_ATTEMPTS:
            TICKET_CLOSES.labels(tenant.slug, "retried").inc()
            raise RetryLater(backoff(attempt, base=2.0, cap=120.0), exc.error_class) from exc
        TICKET_CLOSES.labels(tenant.slug, "failed").inc()
        log.error("ticket.close_failed", conversation_id=conversation_id, error=exc.error_class)
        return
    TICKET_CLOSES.labels(tenant.slug, "closed").inc()
    log.info("ticket.closed", conversation_id=conversation_id, ticket_id=ticket.id)
