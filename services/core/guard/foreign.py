"""Other tenants' data, for the output guard's cross-tenant check.

One cheap query per turn (``id, spec`` of the *other* tenants; no credentials are decrypted):
their display names and the 8-word shingles of their persona prompts and knowledge. The model
never receives any of it — our context is built from this tenant only — so finding it in a reply
means something went wrong (a shared cache, a poisoned knowledge entry, a future bug) and the
reply is blocked. Data both tenants have (a shared FAQ sentence, a common word as a name) is
subtracted by :meth:`OutputGuard.build`; display names shorter than ``min_name_chars`` letters
are ignored (``Loja`` would block every reply mentioning a store).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import select

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


async def load_foreign(sessionmaker: SessionMaker, tenant_id: int) -> ForeignData:
    async with sessionmaker() as session:
        rows = (await session.execute(select(Tenant.spec).where(Tenant.id != tenant_id))).all()
    data = ForeignData()
    for (raw,) in rows:
        try:
            data.add(BotTenantSpec.model_validate(raw))
        except ValidationError:  # a spec this version cannot read: nothing to compare with
            continue
    return data
