"""``status.panelOwned`` kept current between reconciles.

A panel edit of a delegated field (``spec.delegation``) changes nothing in the BotTenant, so no
reconcile follows it; this timer reads who edited what from Postgres every
:data:`INTERVAL_SECONDS` for each BotTenant that delegates anything, and patches the status
only when it differs. The reconcile itself reports the same list (and the Ready message says
which fields the panel owns).
"""

from __future__ import annotations

from typing import Any

import kopf

from services.core.tenants.overlay import panel_owned_of

from . import resources
from .reconcile import context_of

INTERVAL_SECONDS = 30.0


def delegates(spec: kopf.Spec, **_: Any) -> bool:
    """Only BotTenants whose spec.delegation.panelOwns lists a field are looked at."""
    delegation = spec.get("delegation") or {}
    return bool(delegation.get("panelOwns"))


async def refresh(
    *,
    name: str,
    namespace: str | None,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    **_: Any,
) -> None:
    ctx = context_of(memo)
    source = resources.source_of(namespace or "", name)
    async with ctx.sessionmaker() as session:
        owned = await panel_owned_of(session, name, source)
    if owned is None:  # not reconciled yet, or the name belongs to another BotTenant
        return
    current = [o.status() for o in owned]
    if list(status.get("panelOwned") or []) != current:
        patch.status["panelOwned"] = current
