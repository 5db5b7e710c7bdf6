"""Other tenants' data, for the output guard's cross-tenant check.

Their display names and the 8-word shingles of their persona prompts and knowledge, from
``tenants.spec`` (no credentials are decrypted). :class:`ForeignIndex` reads each tenant's spec
once per version: a turn costs one query of ``(id, version)`` pairs, not a parse of every
other tenant's knowledge. The model
never receives any of it — our context is built from this tenant only — so finding it in a reply
means something went wrong (a shared cache, a poisoned knowledge entry, a future bug) and the
reply is blocked. Data both tenants have (a shared FAQ sentence, a common word as a name) is
subtracted by :meth:`OutputGuard.build`; display names shorter than ``min_name_chars`` letters
are ignored (``Loja`` would block every reply mentioning a store).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import bindparam, select

from services.core.db import SessionMaker
from services.core.models import Tenant
from services.core.tenants.spec import BotTenantSpec

from .text import Shingle, shingles

MIN_NAME_CHARS = 6


@dataclass
class ForeignData:
    names: set[str] = field(default_factory=set)
    shingles: set[Shingle] = field(default_factory=set)
    min_name_chars: int = MIN_NAME_CHARS

    def add(self, spec: BotTenantSpec) -> None:
        self.names.add(spec.display_name)
        self.shingles |= shingles(spec.persona.system_prompt)
        for entry in spec.knowledge.entries:
            self.shingles |= shingles(f"{entry.question}\n{entry.answer}")
            self.shingles |= shingles(entry.answer)


def _part(raw: object) -> ForeignData:
    data = ForeignData()
    # A spec this version cannot read: nothing to compare with.
    with contextlib.suppress(ValidationError):
        data.add(BotTenantSpec.model_validate(raw))
    return data


class ForeignIndex:
    """Every tenant's part, parsed once per tenant version; the union of the others' parts is
    built once per tenant and state of the rest (and reused until one of them changes)."""

    def __init__(self, max_unions: int = 256) -> None:
        self._parts: dict[int, tuple[int, ForeignData]] = {}
        self._unions: dict[tuple[int, int], ForeignData] = {}
        self._max_unions = max_unions

    async def others(self, sessionmaker: SessionMaker, tenant_id: int) -> tuple[int, ForeignData]:
        """(a fingerprint of the other tenants' versions, their data). Treat it as read-only:
        it is shared by every turn until a tenant changes."""
        async with sessionmaker() as session:
            versions = dict((await session.execute(_VERSIONS)).all())
            stale = [i for i, v in versions.items() if self._parts.get(i, (None,))[0] != v]
            if stale:
                rows = await session.execute(_SPECS, {"ids": stale})
                for tenant, version, raw in rows:
                    self._parts[tenant] = (version, _part(raw))
        for gone in self._parts.keys() - versions.keys():
            del self._parts[gone]
        others = sorted((i, v) for i, v in versions.items() if i != tenant_id)
        fingerprint = hash(tuple(others))
        key = (tenant_id, fingerprint)
        union = self._unions.get(key)
        if union is None:
            if len(self._unions) >= self._max_unions:
                self._unions.clear()
            union = self._unions[key] = ForeignData()
            for other, _ in others:
                part = self._parts[other][1]
                union.names |= part.names
                union.shingles |= part.shingles
        return fingerprint, union


_VERSIONS = select(Tenant.id, Tenant.version)
_SPECS = select(Tenant.id, Tenant.version, Tenant.spec).where(
    Tenant.id.in_(bindparam("ids", expanding=True))
)
