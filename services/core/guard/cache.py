"""Each tenant's output guard, built once and reused for every reply until something it is
made of changes: the tenant's version (spec and credentials), the platform secrets, or another
tenant (the cross-tenant data). Building one shingles the whole prompt and knowledge base, which
is far more work than checking a reply."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from services.core.db import SessionMaker

from .foreign import ForeignData, ForeignIndex
from .output import OutputGuard

Builder = Callable[[ForeignData], OutputGuard]


class OutputGuards:
    def __init__(self, max_guards: int = 1024) -> None:
        self.foreign = ForeignIndex()
        self._guards: dict[tuple[int, int, int, str], OutputGuard] = {}
        self._max_guards = max_guards

    async def for_tenant(
        self,
        sessionmaker: SessionMaker,
        tenant_id: int,
        version: int,
        secrets: Sequence[str | None],
        build: Builder,
    ) -> OutputGuard:
        fingerprint, foreign = await self.foreign.others(sessionmaker, tenant_id)
        digest = hashlib.sha256("\0".join(s or "" for s in secrets).encode()).hexdigest()
        key = (tenant_id, version, fingerprint, digest)
        guard = self._guards.get(key)
        if guard is None:
            if len(self._guards) >= self._max_guards:
                self._guards.clear()
            guard = self._guards[key] = build(foreign)
        return guard
