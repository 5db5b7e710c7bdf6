"""Fair sharing: one tenant's webhook floods (20× the other's messages, far past its rate
limit) and the other tenant's turns are not kept waiting behind it.

The real api and worker (two job slots) on real Postgres and Redis. The flood's excess is
stored and its jobs wait in arq's queue for their ingest slots (future scores), so the worker
takes the quiet tenant's jobs first: every quiet customer is answered while most of the flood
has not yet taken a worker slot at all — order and counts, never timings.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from services.core import jobs
from services.core.models import OPEN_TURN_STATES, InboundMessage, Tenant, Turn

from .conftest import TENANT, Stack, answer_for, baileys_text, eventually, tenant_yaml

FLOOD = "flood"
QUIET_MESSAGES = 5
FLOOD_MESSAGES = 20 * QUIET_MESSAGES
FLOOD_PER_MINUTE = 20  # ten at once, then one every three seconds
RETRY_KEY = "arq:retry:"  # arq's per-job try counter: set when a worker starts the job


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {"ATENDE_WORKER_MAX_JOBS": "2"}


async def _apply_flood_tenant(stack: Stack) -> None:
    manifest = tenant_yaml(stack.whaticket.url).replace(TENANT, FLOOD)
    manifest += (
        f"  rateLimits: {{perContactPerMinute: 10, perTenantPerMinute: {FLOOD_PER_MINUTE}}}\n"
    )
    path = stack.tmp / "flood.yaml"
    path.write_text(manifest)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, f"{out}\n{err}"


async def _flood_ids(stack: Stack) -> list[int]:
    async with stack.sessionmaker() as session:
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == FLOOD))
    return [m.id for m in await stack.rows(InboundMessage, InboundMessage.tenant_id == tenant_id)]


async def _never_started(stack: Stack, ids: list[int]) -> int:
    """Flood messages whose job is still queued and was never picked up by a worker."""
    async with stack.redis.pipeline(transaction=False) as pipe:
        for inbound_id in ids:
            pipe.zscore(jobs.QUEUE, jobs.inbound_job_id(inbound_id))
            pipe.exists(RETRY_KEY + jobs.inbound_job_id(inbound_id))
        replies = await pipe.execute()
    pairs = zip(replies[::2], replies[1::2], strict=True)
    return sum(1 for score, tried in pairs if score is not None and not tried)


async def test_a_flooding_tenant_does_not_delay_the_other_tenants_turns(stack: Stack) -> None:
    await _apply_flood_tenant(stack)
    flood_phones = [f"5511970000{i:03d}" for i in range(FLOOD_MESSAGES)]
    quiet_phones = [f"5521980000{i:03d}" for i in range(QUIET_MESSAGES)]

    async def post(tenant: str, msg_id: str, phone: str) -> None:
        payload = baileys_text(msg_id, f"pergunta {msg_id}", phone)
        response = await stack.http.post(stack.hook_path(tenant=tenant), json=payload)
        assert response.status_code == 200, response.text
        assert response.json() == {"status": "accepted"}

    for start in range(0, FLOOD_MESSAGES, 20):  # the flood first, all of it stored
        await asyncio.gather(
            *(post(FLOOD, f"FLOOD-{i}", flood_phones[i]) for i in range(start, start + 20))
        )
    for i, phone in enumerate(quiet_phones):
        await post(TENANT, f"QUIET-{i}", phone)

    for i, phone in enumerate(quiet_phones):
        sent = await stack.wait_sent(1, number=phone, within=60)
        assert [s["text"] for s in sent] == [answer_for(f"pergunta QUIET-{i}")]
    flood_ids = await _flood_ids(stack)
    waiting = await _never_started(stack, flood_ids)
    flood_answered = sum(1 for p in flood_phones if stack.sent_to(p))

    assert len(flood_ids) == FLOOD_MESSAGES  # every flood message stored, none refused
    # Most of the flood had not even reached a worker when the quiet tenant was all answered.
    assert waiting > FLOOD_MESSAGES // 2, (waiting, flood_answered)
    assert flood_answered < FLOOD_MESSAGES // 2

    # Nothing is dropped: every flood message is answered or has its job waiting for its slot.
    answered_ids = {
        m.id for m in await stack.rows(InboundMessage, InboundMessage.id.in_(flood_ids))
        if m.turn_id is not None
    }  # fmt: skip
    unanswered = [i for i in flood_ids if i not in answered_ids]
    scores = [await stack.redis.zscore(jobs.QUEUE, jobs.inbound_job_id(i)) for i in unanswered]
    assert all(score is not None for score in scores)

    # And the flood keeps draining at its own rate, one reply per customer.
    async def drained_past_burst() -> int:
        done = sum(1 for p in flood_phones if stack.sent_to(p))
        return done if done > FLOOD_PER_MINUTE // 2 + 1 else 0

    await eventually(drained_past_burst, within=60, what="the flood to drain past its burst")
    assert all(len(stack.sent_to(p)) <= 1 for p in flood_phones)
    turns = await stack.rows(Turn)
    assert all(t.status in (*OPEN_TURN_STATES, "answered") for t in turns), turns
