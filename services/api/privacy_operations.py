"""Data-subject requests as the panel, ``/api/v1`` and the action API offer them: the one core
call (services/core/privacy/requests.py) with this process's Postgres and both Redis roles."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.api.state import AppState
from services.core.logging import get_logger
from services.core.privacy import requests

log = get_logger(__name__)


async def export_contact(
    state: AppState, tenant: str, phone: str, scope: Collection[int] | None, *, actor: str
) -> dict[str, Any]:
    return await requests.export_contact(
        state.sessionmaker, state.settings, tenant, phone, actor=actor, scope=scope
    )


async def forget_contact(
    state: AppState, tenant: str, phone: str, scope: Collection[int] | None, *, actor: str
) -> requests.Forgotten:
    done = await requests.forget_contact(
        state.sessionmaker,
        state.redis,
        state.cache,
        state.settings,
        tenant,
        phone,
        actor=actor,
        scope=scope,
        spool_dir=state.settings.spool_dir,  # this pod's; the others' reach Redis when replayed
    )
    log.info("contact.forgotten", tenant=tenant, audit_id=done.erasure.audit_id)
    return done
