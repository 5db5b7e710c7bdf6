"""The handoff's note for the agent, once per handoff: written, then put where the agent works.

A job, enqueued after the transfer's outcome commits (``jobs.enqueue_handoff_note``; the
watcher re-enqueues one Redis lost). It:

1. writes the note once: the summary packet (``handoffs.summary``) rendered with an abstract of
   the conversation from the ``summarize`` the caller passes (Gemini, within the tenant's budget
   and breaker: ``turns/handoff_note.py``), the extractive packet alone when that gives
   nothing; stored in ``note_text`` before anything is posted, so a retry posts the same words;
2. posts it into the Whaticket ticket as internal notes (``POST /ticket-notes``: saas-classic,
   ticketz, v6), by the agent user. A note never reaches the customer. community has no notes:
   its only way into a ticket (``POST /messages/:ticketId``) sends to the customer's WhatsApp,
   so there, and where there is no ticket, the note stays in the panel (``panel_only``);
3. marks ``note_status``. Each posted part opens with ``[Atende #<handoff> n/N]``; before
   posting, the ticket's notes are read and a part already there is not posted again, so a
   worker killed between Whaticket's answer and the mark repeats nothing. A lease
   (``note_claimed_at``, renewed before every post) keeps two copies of the job from posting
   at once.

Transient Whaticket failures retry with backoff up to :data:`MAX_ATTEMPTS`; then, or on a
permanent one, ``failed``, with the reason in ``note_detail`` (the panel shows the note anyway).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from services.core.channels.whaticket.tickets import AgentLogin
from services.core.channels.whaticket.variants import SPECS
from services.core.db import transaction
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.llm.types import ChatMessage
from services.core.logging import get_logger
from services.core.metrics import HANDOFF_NOTES
from services.core.models import Handoff, InboundMessage, KnowledgeEntry, OutboundMessage
from services.core.retry import RetryLater, backoff
from services.core.runtime import Runtime
from services.core.tenants.directory import TenantConfig

from .summary import note_parts, render_note
from .transfer import agent_login

log = get_logger(__name__)
MAX_ATTEMPTS = 6
# TicketNotes.note is a Sequelize STRING, varchar(255), in every fork's create-ticket-notes
# migration: a longer note fails in the database (HTTP 500). So the note goes in parts.
NOTE_LIMIT = 255
MAX_PARTS = 4
_TRANSCRIPT = 16  # the conversation's last messages the abstract is written from
_LINE = 500


@dataclass(frozen=True, slots=True)
class Transcript:
    """What the abstract is written from: this conversation only, oldest first."""

    messages: list[ChatMessage]  # user: the customer, model: the bot
    summary: dict[str, Any]


Summarize = Callable[[Runtime, TenantConfig, Transcript], Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class _Row:
    status: str
    tenant_id: int
    conversation_id: int
    ticket_id: int | None
    summary: dict[str, Any]
    note_text: str | None
    claimed_at: datetime


async def post_note(deps: Runtime, handoff_id: int, summarize: Summarize) -> None:
    row = await _claim(deps, handoff_id, None)
    if row is None:
        await _unless_done(deps, handoff_id)
        return
    tenant = await deps.tenants.by_id(row.tenant_id)
    if tenant is None:
        return
    if row.status == "requested":  # the transfer has not finished: it enqueues us again
        await _release(deps, handoff_id)
        return
    text = row.note_text or await _write(deps, tenant, handoff_id, row, summarize)
    place = _place(tenant, row)
    if isinstance(place, str):
        await _finish(deps, tenant, handoff_id, "panel_only", place)
        return
    login, ticket_id = place
    try:
        ticket = await deps.desk.show_ticket(login, ticket_id)
        if ticket is None or ticket.contact_id is None:
            raise PermanentError("whaticket_ticket_not_found", "the ticket no longer exists")
        parts = note_parts(text, f"[Atende #{handoff_id}", limit=NOTE_LIMIT, most=MAX_PARTS)
        there = await deps.desk.notes(login, ticket)
        held = row.claimed_at
        for part in parts:
            if any(note.startswith(part.split("]", 1)[0] + "]") for note in there):
                continue  # posted by a run that died before marking it
            renewed = await _claim(deps, handoff_id, held)
            if renewed is None:
                return  # held past the lease: a later copy of the job goes on
            held = renewed.claimed_at
            await deps.desk.add_note(login, ticket, part)
    except DependencyError as exc:
        await _failed(deps, tenant, handoff_id, exc)
        return
    await _finish(deps, tenant, handoff_id, "posted", f"{len(parts)} note(s) in the ticket")


def _place(tenant: TenantConfig, row: _Row) -> tuple[AgentLogin, int] | str:
    """Who posts into which ticket, or why the note cannot go into one."""
    whaticket = tenant.spec.whaticket
    login = agent_login(tenant)
    if row.ticket_id is None:
        return "no Whaticket ticket was moved for this handoff"
    if not SPECS[whaticket.variant].ticket_notes:
        return (
            f"Whaticket {whaticket.variant.value} has no internal notes; a message in the "
            "ticket would reach the customer"
        )
    if login is None:
        return "no whaticket.agent to post as"
    return login, row.ticket_id


async def _claim(deps: Runtime, handoff_id: int, held: datetime | None) -> _Row | None:
    """Take the note's lease (``held``: renew the one this run holds), or None when the note is
    done or another run holds it. A run killed mid-way leaves the lease to lapse
    (``ATENDE_LEASE_SECONDS``)."""
    lease = timedelta(seconds=deps.settings.lease_seconds)
    free = or_(Handoff.note_claimed_at.is_(None), Handoff.note_claimed_at < func.now() - lease)
    async with transaction(deps.sessionmaker) as session:
        claimed = (
            await session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.note_status.is_(None),
                    free if held is None else Handoff.note_claimed_at == held,
                )
                .values(note_claimed_at=func.clock_timestamp())
                .returning(
                    Handoff.status,
                    Handoff.tenant_id,
                    Handoff.conversation_id,
                    Handoff.ticket_id,
                    Handoff.summary,
                    Handoff.note_text,
                    Handoff.note_claimed_at.label("claimed_at"),
                )
            )
        ).one_or_none()
    return None if claimed is None else _Row(**claimed._mapping)


async def _unless_done(deps: Runtime, handoff_id: int) -> None:
    """Not claimed: fine when the note is done (or the handoff gone); while another run holds
    it, look again once its lease may have lapsed (it may have died mid-way)."""
    async with deps.sessionmaker() as session:
        pending = await session.scalar(
            select(Handoff.id).where(Handoff.id == handoff_id, Handoff.note_status.is_(None))
        )
    if pending is not None:
        raise RetryLater(deps.settings.lease_seconds, "handoff note held by another run")


async def _release(deps: Runtime, handoff_id: int) -> None:
    async with transaction(deps.sessionmaker) as session:
        await session.execute(
            update(Handoff).where(Handoff.id == handoff_id).values(note_claimed_at=None)
        )


async def _write(
    deps: Runtime, tenant: TenantConfig, handoff_id: int, row: _Row, summarize: Summarize
) -> str:
    """The note's text, stored once: the abstract when ``summarize`` gives one, else the
    extractive packet alone."""
    transcript, knowledge = await _read_conversation(deps, tenant, row)
    abstract = await summarize(deps, tenant, transcript)
    text = render_note(row.summary, abstract=abstract, knowledge=knowledge)
    async with transaction(deps.sessionmaker) as session:
        stored: str | None = (
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id)
                .values(
                    note_text=func.coalesce(Handoff.note_text, text),
                    note_source=func.coalesce(
                        Handoff.note_source, "gemini" if abstract else "extractive"
                    ),
                )
                .returning(Handoff.note_text)
            )
        ).scalar_one()
    return stored or text


async def _read_conversation(
    deps: Runtime, tenant: TenantConfig, row: _Row
) -> tuple[Transcript, list[str]]:
    """The conversation's last messages and the questions of the knowledge used, all of this
    tenant (every statement names it)."""
    ids = [int(i) for i in row.summary.get("knowledge_ids") or []]
    async with deps.sessionmaker() as session:
        said = await session.execute(
            select(InboundMessage.received_at, InboundMessage.text)
            .where(
                InboundMessage.tenant_id == tenant.id,
                InboundMessage.conversation_id == row.conversation_id,
                InboundMessage.text != "",
            )
            .order_by(InboundMessage.id.desc())
            .limit(_TRANSCRIPT)
        )
        answered = await session.execute(
            select(OutboundMessage.created_at, OutboundMessage.text)
            .where(
                OutboundMessage.tenant_id == tenant.id,
                OutboundMessage.conversation_id == row.conversation_id,
            )
            .order_by(OutboundMessage.id.desc())
            .limit(_TRANSCRIPT)
        )
        questions = await session.execute(
            select(KnowledgeEntry.id, KnowledgeEntry.question).where(
                KnowledgeEntry.tenant_id == tenant.id, KnowledgeEntry.id.in_(ids)
            )
        )
    lines = [(at, ChatMessage("user", text[:_LINE])) for at, text in said.all()]
    lines += [(at, ChatMessage("model", text[:_LINE])) for at, text in answered.all()]
    lines.sort(key=lambda line: line[0])
    messages = [message for _, message in lines[-_TRANSCRIPT:]]
    by_id = dict(questions.all())
    knowledge = [by_id[i] for i in ids if i in by_id]
    return Transcript(messages, row.summary), knowledge


async def _finish(
    deps: Runtime, tenant: TenantConfig, handoff_id: int, status: str, detail: str
) -> None:
    async with transaction(deps.sessionmaker) as session:
        source = (
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.note_status.is_(None))
                .values(
                    note_status=status,
                    note_detail=detail,
                    # a failure counted its try already (_failed)
                    note_attempts=Handoff.note_attempts + int(status != "failed"),
                    note_posted_at=func.now() if status == "posted" else None,
                    note_claimed_at=None,
                )
                .returning(Handoff.note_source)
            )
        ).scalar_one_or_none()
    if source is not None:
        HANDOFF_NOTES.labels(tenant.slug, status, source).inc()
        log.info("handoff.note", handoff_id=handoff_id, status=status, source=source)


async def _failed(
    deps: Runtime, tenant: TenantConfig, handoff_id: int, exc: DependencyError
) -> None:
    async with transaction(deps.sessionmaker) as session:
        attempts: int = (
            await session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.note_status.is_(None))
                .values(
                    note_attempts=Handoff.note_attempts + 1,
                    note_detail=exc.error_class,
                    note_claimed_at=None,
                )
                .returning(Handoff.note_attempts)
            )
        ).scalar_one_or_none() or MAX_ATTEMPTS
    if isinstance(exc, TransientError) and attempts < MAX_ATTEMPTS:
        HANDOFF_NOTES.labels(tenant.slug, "retried", "").inc()
        log.warning("handoff.note_retry", handoff_id=handoff_id, error_class=exc.error_class)
        raise RetryLater(backoff(attempts, base=2.0, cap=120.0), exc.error_class)
    await _finish(deps, tenant, handoff_id, "failed", exc.error_class)
    log.error("handoff.note_failed", handoff_id=handoff_id, error_class=exc.error_class)
