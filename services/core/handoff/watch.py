"""The handoff watcher: SLA alerts, the bot's return, and transfers whose job was lost.

Run periodically by every worker; an advisory lock keeps it to one at a time. For each active
handoff it:

* re-enqueues a ``requested`` transfer older than a minute (Redis lost the job), and the agent's
  note of a finished one still without it;
* reads the Whaticket ticket: closed (or gone) gives the conversation back to the bot; taken by
  a person other than the bot's agent user counts as a person answering;
* fires the SLA breach (metric and event, once) when no person answered within
  ``handoff.slaMinutes`` of working time;
* gives the conversation back after ``resumeBotAfterHumanSilenceMinutes`` without a person.

The clocks of the last two start when people are at work: a handoff at 23h is not late at 23h15,
and the bot does not take back at 1h a customer promised a person "amanhã às 8h".
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update

from services.core import events, hours, jobs
from services.core.conversations import memory
from services.core.db import transaction
from services.core.errors import DependencyError
from services.core.logging import get_logger
from services.core.metrics import HANDOFF_SLA_BREACHES, HANDOFFS_WAITING
from services.core.models import ACTIVE_HANDOFF_STATES, Handoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig
from services.core.tenants.spec import EventType

from . import service
from .transfer import agent_login

log = get_logger(__name__)
_LOCK_KEY = 0x68616E64  # "hand"
LOST_JOB_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class _Active:
    id: int
    tenant_id: int
    conversation_id: int
    status: str
    ticket_id: int | None
    created_at: datetime
    human_seen_at: datetime | None
    sla_breached_at: datetime | None
    note_status: str | None


def working_start(tenant: TenantConfig, since: datetime) -> datetime:
    """When people are first at work from ``since`` on (``since`` itself in hours)."""
    opening = hours.next_opening(tenant.spec.business_hours, since)
    return opening if opening is not None else since


async def watch(deps: Runtime) -> int:
    """One pass; how many handoffs changed (0 when another watcher holds the lock)."""
    async with transaction(deps.sessionmaker) as session:
        locked = await session.scalar(text(f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})"))
        if not locked:
            return 0
        rows = (
            await session.execute(
                select(
                    Handoff.id,
                    Handoff.tenant_id,
                    Handoff.conversation_id,
                    Handoff.status,
                    Handoff.ticket_id,
                    Handoff.created_at,
                    Handoff.human_seen_at,
                    Handoff.sla_breached_at,
                    Handoff.note_status,
                )
                .where(Handoff.status.in_(ACTIVE_HANDOFF_STATES))
                .order_by(Handoff.id)
                .limit(1000)
            )
        ).all()
    now = deps.clock()
    changed = 0
    waiting: Counter[str] = Counter()
    for row in rows:
        active = _Active(**row._mapping)
        tenant = await deps.tenants.by_id(active.tenant_id)
        if tenant is None:
            continue
        try:
            changed += await _check(deps, tenant, active, now, waiting)
        except DependencyError as exc:  # Whaticket down: look again next pass
            log.warning("handoff.watch_failed", handoff_id=active.id, error_class=exc.error_class)
    _publish_waiting(waiting)
    return changed


_published: set[str] = set()


def _publish_waiting(waiting: Counter[str]) -> None:
    """Per tenant; a tenant whose last waiting handoff was answered drops back to 0."""
    for slug in _published | set(waiting):
        HANDOFFS_WAITING.labels(slug).set(waiting[slug])
    _published.update(waiting)


async def _check(
    deps: Runtime, tenant: TenantConfig, active: _Active, now: datetime, waiting: Counter[str]
) -> int:
    if active.status == "requested" and (now - active.created_at).total_seconds() > (
        LOST_JOB_SECONDS
    ):
        await jobs.enqueue_handoff(deps.redis, active.id, suffix=_period())
    elif active.note_status is None and (now - active.created_at).total_seconds() > (
        deps.settings.stuck_after_seconds
    ):  # the note job takes a lease: a copy beside a running or retrying one posts nothing
        await jobs.enqueue_handoff_note(deps.redis, active.id, suffix=_period())
    human_seen = active.human_seen_at
    login = agent_login(tenant)
    if active.ticket_id is not None and login is not None:
        ticket = await deps.desk.show_ticket(login, active.ticket_id)
        if ticket is None or ticket.status == "closed":
            return await _resume(deps, tenant, active, "ticket_closed")
        bot_user = await deps.desk.agent_user_id(login)
        taken = ticket.status == "open" and ticket.user_id not in (None, bot_user)
        if taken and human_seen is None:  # a person took the ticket in Whaticket
            async with transaction(deps.sessionmaker) as session:
                await service.note_human(session, active.conversation_id, now)
            human_seen = now
    if human_seen is None:
        waiting[tenant.slug] += 1
        due = working_start(tenant, active.created_at) + timedelta(
            minutes=tenant.spec.handoff.sla_minutes
        )
        if active.sla_breached_at is None and now >= due:
            await _breach(deps, tenant, active)
    silence = timedelta(minutes=tenant.spec.conversation.resume_bot_after_human_silence_minutes)
    quiet_since = human_seen or working_start(tenant, active.created_at)
    if now - quiet_since >= silence:
        return await _resume(deps, tenant, active, "silence")
    return 0


def _period() -> str:
    return f"watch{int(time.time() // LOST_JOB_SECONDS)}"


async def _breach(deps: Runtime, tenant: TenantConfig, active: _Active) -> None:
    async with transaction(deps.sessionmaker) as session:
        marked = await session.execute(
            update(Handoff)
            .where(Handoff.id == active.id, Handoff.sla_breached_at.is_(None))
            .values(sla_breached_at=func.now())
            .returning(Handoff.id)
        )
        first = marked.scalar_one_or_none() is not None
        if first:
            await events.emit(
                session,
                tenant,
                EventType.HANDOFF_SLA_BREACHED,
                {
                    "handoff_id": active.id,
                    "conversation_id": active.conversation_id,
                    "sla_minutes": tenant.spec.handoff.sla_minutes,
                },
            )
    if first:
        HANDOFF_SLA_BREACHES.labels(tenant.slug).inc()
        log.error(
            "handoff.sla_breached",
            tenant=tenant.slug,
            handoff_id=active.id,
            sla_minutes=tenant.spec.handoff.sla_minutes,
        )


async def _resume(deps: Runtime, tenant: TenantConfig, active: _Active, resolution: str) -> int:
    async with transaction(deps.sessionmaker) as session:
        changed = await service.resume(
            session, active.conversation_id, resolution=resolution, tenant_slug=tenant.slug
        )
    if changed:
        await memory.forget(deps.cache, active.conversation_id)  # rebuilt with the markers
    return int(changed)
