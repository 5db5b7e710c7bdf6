"""Each tenant's output guard, built once and reused for every reply until something it is
made of changes: the tenant's version (spec and credentials) or the platform secrets. Building
one shingles the whole prompt and knowledge base, which is far more work than checking a reply.
Other tenants' data is not in it: every guard asks the one shared index, caught up with every
tenant's version at most a second before each reply, so another tenant's change is seen within
a second without rebuilding anything."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from services.core.db import SessionMaker

from .foreign import ForeignIndex, ForeignLookup
from .output import OutputGuard

Builder = Callable[[ForeignLookup], OutputGuard]


class OutputGuards:
    def __init__(self, max_guards: int = 1024, foreign: ForeignIndex | None = None) -> None:
        self.foreign = foreign or ForeignIndex()
        self._guards: dict[tuple[int, int, str], OutputGuard] = {}
        self._max_guards = max_guards

    async def for_tenant(
        self,
        sessionmaker: SessionMaker,
        tenant_id: int,
        version: int,
        secrets: Sequence[str | None],
        build: Builder,
    ) -> OutputGuard:
        await self.foreign.refresh(sessionmaker)
        digest = hashlib.sha256("\0".join(s or "" for s in secrets).encode()).hexdigest()
        key = (tenant_id, version, digest)
        guard = self._guards.get(key)
        if guard is None:
            if len(self._guards) >= self._max_guards:
                self._guards.clear()
            guard = self._guards[key] = build(self.foreign)
        return guard
