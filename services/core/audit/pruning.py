"""Erasing audit rows past their retention without breaking the chain.

Rows leave only through ``atende_prune_audit`` (migration 0018), which runs as the schema owner
and erases a prefix of the chain, oldest first, each row past its tenant's
``retention.auditDays``. The caller records the last erased row's hash in an ``audit.pruned``
row in the same transaction: :func:`services.core.audit.service.verify` accepts the oldest kept row
as its anchor when its predecessor is such a recorded hash, and nothing else. Erasing rows
without recording them (or any other way) still shows as a broken link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import AuditEvent

PRUNED = "audit.pruned"
ACTOR = "retention"
_PRUNE = text("SELECT pruned, through_id, through_hash FROM atende_prune_audit(:as_of, :rows)")


@dataclass(frozen=True, slots=True)
class Pruned:
    rows: int
    through_id: int | None
    through_hash: str | None

    def details(self) -> dict[str, Any]:
        """What the ``audit.pruned`` row records (the caller appends it with ``record``)."""
        return {"rows": self.rows, "through_id": self.through_id, "through_hash": self.through_hash}


async def prune(session: AsyncSession, as_of: datetime, max_rows: int) -> Pruned:
    """Erase up to ``max_rows`` expired rows at the start of the chain, in the caller's
    transaction; the caller records a non-empty result as ``audit.pruned`` in it too."""
    found = (await session.execute(_PRUNE, {"as_of": as_of, "rows": max_rows})).one()
    return Pruned(int(found.pruned), found.through_id, found.through_hash)


async def anchors(session: AsyncSession) -> set[str]:
    """The hashes of erased rows the chain may start after (each one's row is verified with
    the rest of the chain)."""
    hashes = await session.scalars(
        select(AuditEvent.details["through_hash"].astext).where(AuditEvent.action == PRUNED)
    )
    return {value for value in hashes if value}
