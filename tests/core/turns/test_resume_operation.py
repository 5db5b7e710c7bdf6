"""Resuming a paused tenant as every operator interface does it: the audit names who resumed,
every process hears of it, and each conversation that waited is queued once, under a job id
of the resume's own (a later pause and resume is not swallowed as a duplicate)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from arq.constants import job_key_prefix
from sqlalchemy import select

from services.core import jobs
from services.core.db import SessionMaker, transaction
from services.core.models import AuditEvent, InboundMessage, Tenant
from services.core.redis import create_redis
from services.core.tenants import switches
from services.core.tenants.notify import CHANNEL, parse_notice
from services.core.turns import switches as turn_switches
from tests.api.webhook_app import TENANT
from tests.core.audit.test_audit import _tenant
from tests.core.dlq.test_audited import new_conversation


@pytest_asyncio.fixture(loop_scope="session")
async def queue(redis_url: str, redis_client: aioredis.Redis) -> AsyncIterator[ArqRedis]:
    """The job queue, emptied first (``redis_client`` flushes it)."""
    redis = create_redis(redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def _waiting(sessionmaker: SessionMaker, phone: str, *, minutes_ago: int) -> int:
    """A customer message stored while the tenant was paused; its id."""
    async with transaction(sessionmaker) as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == TENANT))
        assert tenant is not None
        conversation = await new_conversation(session, tenant.id, phone)
        message = InboundMessage(
            tenant_id=tenant.id,
            conversation_id=conversation.id,
            provider_msg_id=f"wamid-{phone}",
            kind="text",
            text="alguém aí?",
            payload={},
            received_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
            correlation_id="c" * 32,
        )
        session.add(message)
        await session.flush()
        return message.id


async def test_resume_queues_what_waited_once_and_announces_it(
    clean_db: SessionMaker, queue: ArqRedis, redis_client: aioredis.Redis
) -> None:
    await _tenant(clean_db)
    async with transaction(clean_db) as session:
        await switches.pause(session, TENANT, reason="loop with a bot", actor="cli:ana")
    fresh = await _waiting(clean_db, "5511999990001", minutes_ago=1)
    await _waiting(clean_db, "5511999990002", minutes_ago=24 * 60)  # older than the context TTL
    async with transaction(clean_db) as session:
        resumed = await turn_switches.resume(session, TENANT, actor="ana@acme.example")
    assert resumed.switch.outcome == "updated"
    assert resumed.backlog.queue == [fresh]
    assert (resumed.backlog.expired_conversations, resumed.backlog.expired_messages) == (1, 1)

    async with redis_client.pubsub() as notices:
        await notices.subscribe(CHANNEL)
        await notices.get_message(timeout=1)  # the subscription's confirmation
        await switches.announce(queue, resumed.switch)
        notice = await notices.get_message(ignore_subscribe_messages=True, timeout=2)
    assert notice is not None
    assert parse_notice(notice["data"]) == TENANT

    assert await turn_switches.queue_backlog(queue, resumed) == 1
    job_id = jobs.inbound_job_id(fresh, f"resume{resumed.switch.version}")
    assert await queue.exists(job_key_prefix + job_id)
    async with clean_db() as session:
        actions = [(e.actor, e.action) for e in await session.scalars(select(AuditEvent))]
    assert ("ana@acme.example", "tenant.resume") in actions


async def test_resuming_a_tenant_that_runs_changes_and_queues_nothing(
    clean_db: SessionMaker, queue: ArqRedis, redis_client: aioredis.Redis
) -> None:
    await _tenant(clean_db)
    await _waiting(clean_db, "5511999990001", minutes_ago=1)  # the sweeper's, not a resume's
    async with transaction(clean_db) as session:
        resumed = await turn_switches.resume(session, TENANT, actor="cli:ana")
    assert resumed.switch.outcome == "unchanged"
    assert resumed.backlog.queue == []
    async with redis_client.pubsub() as notices:
        await notices.subscribe(CHANNEL)
        await notices.get_message(timeout=1)
        await switches.announce(queue, resumed.switch)
        assert await notices.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
    assert await turn_switches.queue_backlog(queue, resumed) == 0
    assert await asyncio.wait_for(queue.zcard(jobs.QUEUE), 1) == 0
