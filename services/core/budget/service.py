"""The tenant's monthly token budget (``spec.llm.monthlyTokenBudget``; unset means unlimited).

Tokens are the ``usageMetadata`` counts of every model reply (prompt + candidates), added to one
``llm_usage`` row per tenant and calendar month *of the tenant's timezone* by an atomic upsert, so
concurrent workers never lose an update and a restart loses nothing. A new month is a new row:
it starts from zero.

* at :data:`WARNING_RATIO` of the budget, ``budget.warning`` is logged and counted once per month
  (claimed by ``warned_at``, so several workers crossing it together warn once);
* at 100 % the turn makes no model call: it answers from the tenant's knowledge only
  (:class:`~services.core.llm.offline.OfflineResponder`) and, when tickets can be moved, hands the
  conversation to a person (the reply carries a ``HandoffRequest``; the turn tells the customer
  when a person will answer); without, it adds the tenant's ``spec.messages.budgetSpent``.

The check happens before each call, so turns running at the same moment may overshoot the budget
by their own use: a soft limit, by at most one turn per worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select, update

from services.core import hours
from services.core.db import SessionMaker, autocommit, fetchrow
from services.core.handoff.messages import say
from services.core.knowledge import QuestionAnswer
from services.core.llm.offline import OfflineResponder
from services.core.llm.types import HandoffRequest, LlmReply, LlmRequest
from services.core.logging import get_logger
from services.core.metrics import LLM_BUDGET_EXHAUSTED, LLM_BUDGET_USED, LLM_BUDGET_WARNINGS
from services.core.models import LlmUsage
from services.core.tenants.directory import TenantConfig
from services.core.tenants.messages import Kind

log = get_logger(__name__)

WARNING_RATIO = 0.8


@dataclass(frozen=True, slots=True)
class BudgetState:
    used: int
    budget: int | None  # None: unlimited

    @property
    def ratio(self) -> float | None:
        if self.budget is None:
            return None
        if self.budget == 0:  # nothing allowed: used up from the start
            return 1.0 if self.used == 0 else float(self.used)
        return self.used / self.budget

    @property
    def exhausted(self) -> bool:
        return self.budget is not None and self.used >= self.budget


def month_start(tenant: TenantConfig, now: datetime) -> date:
    """The first day of ``now``'s calendar month in the tenant's timezone."""
    local = now.astimezone(hours.zone_of(tenant.spec.business_hours))
    return local.date().replace(day=1)


def _publish(tenant: TenantConfig, state: BudgetState) -> None:
    if state.ratio is not None:
        LLM_BUDGET_USED.labels(tenant.slug).set(state.ratio)


async def current(sessionmaker: SessionMaker, tenant: TenantConfig, now: datetime) -> BudgetState:
    """This month's use; unlimited tenants are not looked up (``used`` is then 0)."""
    budget = tenant.spec.llm.monthly_token_budget
    if budget is None:
        return BudgetState(0, None)
    async with autocommit(sessionmaker) as session:
        used = await session.scalar(
            select(LlmUsage.prompt_tokens + LlmUsage.output_tokens).where(
                LlmUsage.tenant_id == tenant.id, LlmUsage.month == month_start(tenant, now)
            )
        )
    state = BudgetState(int(used or 0), budget)
    _publish(tenant, state)
    return state


async def record_usage(
    sessionmaker: SessionMaker, tenant: TenantConfig, reply: LlmReply, now: datetime
) -> BudgetState | None:
    """Add the reply's tokens to the month (every tenant, budget or not), warn once at
    :data:`WARNING_RATIO`. Best effort: a failure is logged and never fails the turn (the model
    already answered); it returns None then."""
    prompt, output = reply.prompt_tokens or 0, reply.output_tokens or 0
    budget = tenant.spec.llm.monthly_token_budget
    month = month_start(tenant, now)
    try:
        # Each statement stands alone (the warning's claim checks warned_at itself), and the
        # tenant's month row is locked only for the one statement.
        async with autocommit(sessionmaker) as session:
            row = await fetchrow(
                session,
                """
                INSERT INTO llm_usage (tenant_id, month, prompt_tokens, output_tokens)
                VALUES ($1, $2, $3, $4)
                ON CONFLICT (tenant_id, month) DO UPDATE
                SET prompt_tokens = llm_usage.prompt_tokens + excluded.prompt_tokens,
                    output_tokens = llm_usage.output_tokens + excluded.output_tokens,
                    updated_at = now()
                RETURNING prompt_tokens + output_tokens AS used, warned_at""",
                tenant.id,
                month,
                prompt,
                output,
            )
            assert row is not None  # an upsert always returns its row
            used, warned_at = row["used"], row["warned_at"]
            state = BudgetState(int(used), budget)
            claimed = False
            if warned_at is None and state.ratio is not None and state.ratio >= WARNING_RATIO:
                claimed = (
                    await session.scalar(
                        update(LlmUsage)
                        .where(
                            LlmUsage.tenant_id == tenant.id,
                            LlmUsage.month == month,
                            LlmUsage.warned_at.is_(None),
                        )
                        .values(warned_at=now)
                        .returning(LlmUsage.tenant_id)
                    )
                    is not None
                )
    except Exception as exc:  # counted tokens are bookkeeping: the reply still goes out
        log.warning("budget.record_failed", error=type(exc).__name__)
        return None
    _publish(tenant, state)
    if claimed:
        LLM_BUDGET_WARNINGS.labels(tenant.slug).inc()
        log.warning(
            "budget.warning",
            tenant=tenant.slug,
            month=month.isoformat(),
            used=state.used,
            budget=budget,
        )
    return state


async def knowledge_only_reply(
    tenant: TenantConfig,
    turn_id: int,
    request: LlmRequest,
    now: datetime,
    *,
    snippets: Sequence[QuestionAnswer] | None = None,
) -> LlmReply:
    """The answer of a turn over budget: the best knowledge entry (no model call), and the
    handoff or the tenant's ``messages.budgetSpent`` (which promises no person by default).
    ``snippets`` are the turn's knowledge search results (the first answers); without them,
    the entries are matched word by word."""
    spec = tenant.spec
    entries = list(spec.knowledge.entries) if spec.features.knowledge else []
    responder = (
        OfflineResponder(entries, no_match="")
        if snippets is None
        else OfflineResponder.from_search(snippets, no_match="")
    )
    found = await responder.generate(request)
    LLM_BUDGET_EXHAUSTED.labels(tenant.slug).inc()
    log.warning("budget.exhausted", tenant=tenant.slug, turn_id=turn_id)
    answer = found.text
    if tenant.spec.tickets_movable:
        return LlmReply(
            text=answer,
            model="offline",
            handoff=HandoffRequest(reason="llm_budget_exhausted", summary=""),
        )
    follow_up = say(spec, Kind.BUDGET_SPENT, now)
    return LlmReply(text=f"{answer}\n\n{follow_up}" if answer else follow_up, model="offline")
