"""Operational switches: pause/resume a tenant's bot and force its model, at run time.

They are not part of the spec (the operator or a tenant file never reset them): each writes the
tenant row, bumps ``version``, and appends a hash-chained audit event in the same transaction.
The caller commits and then announces the change (:func:`announce`); a resume also queues
what waited (:mod:`services.core.turns.switches`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit import service as audit
from services.core.errors import InvalidInput, NotFound
from services.core.models import Tenant

from .notify import tenant_changed

MAX_MODEL_LENGTH = 64
MAX_REASON_LENGTH = 500


@dataclass(frozen=True, slots=True)
class SwitchResult:
    tenant_id: int
    name: str
    outcome: Literal["updated", "unchanged"]
    version: int


async def _locked(session: AsyncSession, slug: str) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug).with_for_update())
    if tenant is None:
        raise NotFound(f"no tenant named {slug!r}")
    return tenant


async def _changed(
    session: AsyncSession, tenant: Tenant, actor: str, action: str, details: dict[str, Any]
) -> SwitchResult:
    tenant.version += 1
    await session.flush()
    await audit.record(session, actor=actor, action=action, tenant_id=tenant.id, details=details)
    return SwitchResult(tenant.id, tenant.slug, "updated", tenant.version)


async def pause(session: AsyncSession, slug: str, *, reason: str, actor: str) -> SwitchResult:
    """Stop answering (messages are still stored); ``reason`` is for the people on call."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(f"a reason of 1 to {MAX_REASON_LENGTH} characters is required")
    tenant = await _locked(session, slug)
    if tenant.paused and tenant.pause_reason == reason:
        return SwitchResult(tenant.id, tenant.slug, "unchanged", tenant.version)
    tenant.paused, tenant.pause_reason = True, reason
    return await _changed(session, tenant, actor, "tenant.pause", {"reason": reason})


async def hold(
    session: AsyncSession, slug: str, *, source: str, reason: str, actor: str
) -> SwitchResult | None:
    """Pause the running tenant ``source`` owns; None when there is none, it is off, or it is
    already paused (for this reason or any other: a pause is never overwritten)."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug).with_for_update())
    if tenant is None or tenant.source != source or not tenant.enabled or tenant.paused:
        return None
    return await pause(session, slug, reason=reason, actor=actor)


async def paused_for(session: AsyncSession, slug: str) -> str | None:
    """Why the tenant is paused; None when it is not (or does not exist)."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
    return tenant.pause_reason if tenant is not None and tenant.paused else None


async def resume(session: AsyncSession, slug: str, *, actor: str) -> SwitchResult:
    tenant = await _locked(session, slug)
    if not tenant.paused:
        return SwitchResult(tenant.id, tenant.slug, "unchanged", tenant.version)
    previous = tenant.pause_reason
    tenant.paused, tenant.pause_reason = False, None
    return await _changed(session, tenant, actor, "tenant.resume", {"paused_for": previous})


async def force_model(
    session: AsyncSession, slug: str, model: str | None, *, actor: str
) -> SwitchResult:
    """Use ``model`` instead of ``spec.llm.model`` for every turn; None clears the override."""
    if model is not None:
        model = model.strip()
        if not model or len(model) > MAX_MODEL_LENGTH or "/" in model or ":" in model:
            raise InvalidInput(f"invalid model name {model!r}")
    tenant = await _locked(session, slug)
    if tenant.model_override == model:
        return SwitchResult(tenant.id, tenant.slug, "unchanged", tenant.version)
    previous = tenant.model_override
    tenant.model_override = model
    return await _changed(
        session, tenant, actor, "tenant.model", {"model": model, "previous": previous}
    )


async def announce(redis: aioredis.Redis, result: SwitchResult) -> None:
    """After the commit: every process drops its cached row, so the switch holds at once (an
    unchanged switch has nothing to announce)."""
    if result.outcome == "updated":
        await tenant_changed(redis, result.name)
