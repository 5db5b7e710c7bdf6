"""Other tenants' data, for the output guard's cross-tenant check.

Their display names and the 8-word shingles of their persona prompts and knowledge, from
``tenants.spec`` (no credentials are decrypted). The model never receives any of it — our
context is built from this tenant only — so finding it in a reply means something went wrong (a
shared cache, a poisoned knowledge entry, a future bug) and the reply is blocked. Data both
tenants have (a shared FAQ sentence, a common word as a name) is not foreign; display names
shorter than ``min_name_chars`` letters are ignored (``Loja`` would block every reply mentioning
a store).

:class:`ForeignIndex` is one index for every tenant — each shingle and name once, with the
tenants that own it — so a worker's memory grows with the platform's knowledge, not with
tenants × knowledge. It reads each tenant's spec once per version: a turn costs one query of
``(id, version)`` pairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import ValidationError
from sqlalchemy import bindparam, select

from services.core.db import SessionMaker, autocommit
from services.core.models import Tenant
from services.core.tenants.spec import BotTenantSpec

from .text import Shingle, shingles, words

MIN_NAME_CHARS = 6


class ForeignLookup(Protocol):
    """What the output guard asks about the data of tenants other than ``tenant_id``."""

    def others_have(self, tenant_id: int | None, candidates: set[Shingle]) -> set[Shingle]:
        """The ``candidates`` another tenant owns and ``tenant_id`` does not."""
        ...

    def names_in(self, tenant_id: int | None, tokens: list[str]) -> list[Shingle]:
        """Other tenants' names (as word sequences) that occur in ``tokens``."""
        ...


def _name_words(name: str, min_chars: int) -> Shingle | None:
    seq = tuple(words(name))
    return seq if seq and len("".join(seq)) >= min_chars else None


def _names_at(tokens: list[str], by_first: dict[str, list[Shingle]]) -> list[Shingle]:
    """Each name of ``by_first`` (keyed by its first word) that occurs in ``tokens``."""
    found = []
    for i, token in enumerate(tokens):
        for seq in by_first.get(token, ()):
            if tuple(tokens[i : i + len(seq)]) == seq:
                found.append(seq)
    return found


@dataclass
class ForeignData:
    """One tenant's part; on its own (in tests, a tool), all of it counts as another's."""

    names: set[str] = field(default_factory=set)
    shingles: set[Shingle] = field(default_factory=set)
    min_name_chars: int = MIN_NAME_CHARS

    def add(self, spec: BotTenantSpec) -> None:
        self.names.add(spec.display_name)
        self.shingles |= shingles(spec.persona.system_prompt)
        for entry in spec.knowledge.entries:
            self.shingles |= shingles(f"{entry.question}\n{entry.answer}")
            self.shingles |= shingles(entry.answer)

    def name_sequences(self) -> set[Shingle]:
        return {s for n in self.names if (s := _name_words(n, self.min_name_chars))}

    def others_have(self, tenant_id: int | None, candidates: set[Shingle]) -> set[Shingle]:
        return candidates & self.shingles

    def names_in(self, tenant_id: int | None, tokens: list[str]) -> list[Shingle]:
        by_first: dict[str, list[Shingle]] = {}
        for seq in self.name_sequences():
            by_first.setdefault(seq[0], []).append(seq)
        return _names_at(tokens, by_first)


def _part(raw: object) -> ForeignData:
    data = ForeignData()
    # A spec this version cannot read: nothing to compare with.
    with contextlib.suppress(ValidationError):
        data.add(BotTenantSpec.model_validate(raw))
    return data


# Another tenant's change reaches every guard within this long: the versions are asked at
# most this often, by one query at a time, not by every reply.
REFRESH_SECONDS = 1.0


class ForeignIndex:
    """Every tenant's shingles and names once, each with the tenants that own it."""

    def __init__(
        self,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._refresh_seconds, self._clock = refresh_seconds, clock
        self._refreshed_at: float | None = None
        self._refreshing = asyncio.Lock()
        self._versions: dict[int, int] = {}
        self._parts: dict[int, tuple[frozenset[Shingle], frozenset[Shingle]]] = {}
        self._owners: dict[Shingle, set[int]] = {}
        self._name_owners: dict[Shingle, set[int]] = {}
        self._names_by_first: dict[str, list[Shingle]] = {}

    async def refresh(self, sessionmaker: SessionMaker) -> None:
        """Catch up with every tenant's current version (one query when nothing changed),
        unless that was done less than ``refresh_seconds`` ago."""
        if self._fresh():
            return
        async with self._refreshing:
            if not self._fresh():  # another reply's refresh ran while this one waited
                await self._catch_up(sessionmaker)
                self._refreshed_at = self._clock()

    def _fresh(self) -> bool:
        at = self._refreshed_at
        return at is not None and self._clock() - at < self._refresh_seconds

    async def _catch_up(self, sessionmaker: SessionMaker) -> None:
        async with autocommit(sessionmaker) as session:
            versions = dict((await session.execute(_VERSIONS)).all())
            stale = [i for i, v in versions.items() if self._versions.get(i) != v]
            rows = (await session.execute(_SPECS, {"ids": stale})).all() if stale else []
        for tenant, version, raw in rows:
            self._drop(tenant)
            self._add(tenant, version, _part(raw))
        for gone in self._versions.keys() - versions.keys():
            self._drop(gone)

    def others_have(self, tenant_id: int | None, candidates: set[Shingle]) -> set[Shingle]:
        return {s for s in candidates if _foreign(self._owners.get(s), tenant_id)}

    def names_in(self, tenant_id: int | None, tokens: list[str]) -> list[Shingle]:
        found = _names_at(tokens, self._names_by_first)
        return [seq for seq in found if _foreign(self._name_owners.get(seq), tenant_id)]

    def _add(self, tenant: int, version: int, part: ForeignData) -> None:
        names = frozenset(part.name_sequences())
        self._versions[tenant] = version
        self._parts[tenant] = (frozenset(part.shingles), names)
        _own(self._owners, tenant, part.shingles)
        for seq in names:
            if seq not in self._name_owners:
                self._names_by_first.setdefault(seq[0], []).append(seq)
        _own(self._name_owners, tenant, names)

    def _drop(self, tenant: int) -> None:
        self._versions.pop(tenant, None)
        part_shingles, names = self._parts.pop(tenant, (frozenset(), frozenset()))
        _disown(self._owners, tenant, part_shingles)
        for seq in _disown(self._name_owners, tenant, names):
            self._names_by_first[seq[0]].remove(seq)
            if not self._names_by_first[seq[0]]:
                del self._names_by_first[seq[0]]


def _foreign(owners: set[int] | None, tenant_id: int | None) -> bool:
    """Owned by some tenant, and not by ``tenant_id``."""
    if not owners:
        return False
    return tenant_id is None or tenant_id not in owners


def _own(index: dict[Shingle, set[int]], tenant: int, keys: Iterable[Shingle]) -> None:
    for key in keys:
        index.setdefault(key, set()).add(tenant)


def _disown(index: dict[Shingle, set[int]], tenant: int, keys: Iterable[Shingle]) -> list[Shingle]:
    """Remove ``tenant`` as an owner; the keys nobody owns any more (dropped from ``index``)."""
    orphaned = []
    for key in keys:
        owners = index.get(key)
        if owners is None:
            continue
        owners.discard(tenant)
        if not owners:
            del index[key]
            orphaned.append(key)
    return orphaned


_VERSIONS = select(Tenant.id, Tenant.version)
_SPECS = select(Tenant.id, Tenant.version, Tenant.spec).where(
    Tenant.id.in_(bindparam("ids", expanding=True))
)
