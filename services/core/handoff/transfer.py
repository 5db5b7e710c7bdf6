"""The ticket transfer of a handoff: move the customer's Whaticket ticket to the people.

A job, run after the handoff commits; idempotent (only a ``requested`` handoff is worked on, and
moving a ticket twice to the same place changes nothing). Transient Whaticket failures retry
with backoff; a permanent one (no agent user configured, wrong password, no ticket) marks the
handoff ``failed``: the bot stays silent as promised and the SLA alert calls a person. Either
outcome, once committed, enqueues the agent's note (:mod:`.note`).
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from services.core import jobs
from services.core.channels.whaticket.tickets import AgentLogin, handoff_body
from services.core.db import transaction
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.logging import get_logger
from services.core.metrics import HANDOFF_TRANSFERS
from services.core.models import Contact, Conversation, Handoff
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import META_CONNECTION, SIMULATOR_CONNECTION

log = get_logger(__name__)
MAX_ATTEMPTS = 6


def agent_login(tenant: TenantConfig) -> AgentLogin | None:
    """The tenant's agent user, or None when handoffs cannot move tickets."""
    whaticket = tenant.spec.whaticket
    password = tenant.credentials.agent_password
    if whaticket.url is None or whaticket.agent is None or not password:
        return None
    return AgentLogin(
        key=f"{tenant.id}:{whaticket.agent.email}",
        base_url=str(whaticket.url),
        email=whaticket.agent.email,
        password=password,
    )


async def transfer(deps: Runtime, handoff_id: int) -> None:
    async with deps.sessionmaker() as session:
        row = (
            await session.execute(
                select(Handoff.status, Handoff.tenant_id, Contact.phone, Conversation.connection)
                .join(Conversation, Conversation.id == Handoff.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Handoff.id == handoff_id)
            )
        ).one_or_none()
    if row is None or row.status != "requested":
        return
    tenant = await deps.tenants.by_id(row.tenant_id)
    if tenant is None:
        return
    if tenant.spec.whaticket.url is None or row.connection in (
        SIMULATOR_CONNECTION,
        META_CONNECTION,
    ):  # the sandbox, the panel's simulator and the Cloud API channel have no tickets
        await _transferred(deps, tenant, handoff_id, None, None)
        return
    login = agent_login(tenant)
    try:
        if login is None:
            raise PermanentError("handoff_not_configured", "no whaticket.agent with a password")
        if row.phone is None:
            raise PermanentError("contact_without_phone", "the contact is known only by @lid")
        ticket = await deps.desk.find_ticket(login, row.phone)
        if ticket is None:
            raise PermanentError("whaticket_ticket_not_found", "no open ticket for the contact")
        whaticket = tenant.spec.whaticket
        body = handoff_body(
            whaticket.variant, whaticket.handoff_queue_id, await deps.desk.agent_user_id(login)
        )
        moved = await deps.desk.move_ticket(login, ticket.id, body)
    except DependencyError as exc:
        await _failed(deps, tenant, handoff_id, exc)
        return
    await _transferred(deps, tenant, handoff_id, moved.id, moved.queue_id)


async def _transferred(
    deps: Runtime,
    tenant: TenantConfig,
    handoff_id: int,
    ticket_id: int | None,
    queue_id: int | None,
) -> None:
    async with transaction(deps.sessionmaker) as session:
        await session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == "requested")
            .values(
                status="transferred",
                ticket_id=ticket_id,
                queue_id=queue_id,
                transferred_at=func.now(),
                attempts=Handoff.attempts + 1,
            )
        )
    await jobs.enqueue_handoff_note(deps.redis, handoff_id)  # after the commit
    HANDOFF_TRANSFERS.labels(tenant.slug, "transferred").inc()
    log.info("handoff.transferred", handoff_id=handoff_id, ticket_id=ticket_id, queue_id=queue_id)


async def _failed(
    deps: Runtime, tenant: TenantConfig, handoff_id: int, exc: DependencyError
) -> None:
    async with transaction(deps.sessionmaker) as session:
        attempts: int = (
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "requested")
                .values(attempts=Handoff.attempts + 1, last_error=exc.message[:500])
                .returning(Handoff.attempts)
            )
        ).scalar_one_or_none() or MAX_ATTEMPTS
        retry = isinstance(exc, TransientError) and attempts < MAX_ATTEMPTS
        if not retry:
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == "requested")
                .values(status="failed")
            )
    if retry:
        HANDOFF_TRANSFERS.labels(tenant.slug, "retried").inc()
        log.warning("handoff.transfer_retry", handoff_id=handoff_id, error_class=exc.error_class)
        raise RetryLater(backoff(attempts, base=2.0, cap=120.0), exc.error_class)
    await jobs.enqueue_handoff_note(deps.redis, handoff_id)  # the panel still shows it
    HANDOFF_TRANSFERS.labels(tenant.slug, "failed").inc()
    log.error("handoff.transfer_failed", handoff_id=handoff_id, error_class=exc.error_class)
