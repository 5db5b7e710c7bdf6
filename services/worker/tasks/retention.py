"""The retention job: every tenant's ``spec.retention`` enforced, in bounded batches.

An arq cron job (services/worker/main.py, every five minutes, one worker at a time: arq's cron
job id is per run). Each batch is one transaction of at most ``BATCH`` rows per statement;
a (tenant, kind) goes on while its batches come back full, within ``MAX_BATCHES`` and a time
budget, so one run never outlasts its job timeout and a large backlog is worked off over
several runs. Every statement says by itself what is left to erase, so a crashed or repeated
run erases nothing twice (idempotent). ``atende_retention_erased_total{tenant,kind}`` counts
the rows after each commit; audit rows, one chain for every tenant, count as ``tenant="*"``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.core.db import SessionMaker, transaction
from services.core.logging import get_logger
from services.core.metrics import RETENTION_ERASED
from services.core.privacy import retention
from services.worker.context import typed

log = get_logger(__name__)
BATCH = retention.BATCH
MAX_BATCHES = 20  # per tenant and kind in one run
BUDGET_SECONDS = 120.0  # under the job timeout (JOB_TIMEOUT_SECONDS)
ALL_TENANTS = "*"


async def enforce(
    sessionmaker: SessionMaker,
    now: datetime,
    *,
    batch: int = BATCH,
    max_batches: int = MAX_BATCHES,
    budget_seconds: float = BUDGET_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> Counter[tuple[str, str]]:
    """One run at ``now``: rows erased per (tenant slug, kind)."""
    deadline = monotonic() + budget_seconds
    erased: Counter[tuple[str, str]] = Counter()
    async with sessionmaker() as session:
        tenants = await retention.tenants(session)
    for tenant in tenants:
        for kind in retention.KINDS:
            for _ in range(max_batches):
                if monotonic() > deadline:
                    log.info("retention.budget_spent", erased=sum(erased.values()))
                    return erased
                async with transaction(sessionmaker) as session:
                    done = await retention.erase_batch(session, tenant, kind, now, batch)
                if done:
                    erased[tenant.slug, kind] += done
                    RETENTION_ERASED.labels(tenant.slug, kind).inc(done)
                if done < batch:
                    break
    for _ in range(max_batches):
        if monotonic() > deadline:
            break
        async with transaction(sessionmaker) as session:
            done = await retention.prune_audit(session, now, batch)
        if done:
            erased[ALL_TENANTS, retention.AUDIT] += done
            RETENTION_ERASED.labels(ALL_TENANTS, retention.AUDIT).inc(done)
        if done < batch:
            break
    if erased:
        log.info("retention.erased", rows=sum(erased.values()), kinds=len(erased))
    return erased


async def enforce_retention(ctx: dict[str, Any]) -> None:
    deps = typed(ctx)["runtime"]
    await enforce(deps.sessionmaker, deps.clock())
