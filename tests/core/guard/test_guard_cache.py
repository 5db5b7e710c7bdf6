"""Output guards are reused across replies, yet never stale: a change to the tenant is seen by
the very next reply, a change to any other tenant within a second (the shared index asks the
versions at most once a second, not once per reply); and a worker's guards share one index of every
tenant's data, so their memory grows with the platform's knowledge, not tenants × knowledge."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select

from services.core import guard
from services.core.db import SessionMaker, transaction
from services.core.guard.foreign import REFRESH_SECONDS, ForeignIndex
from services.core.models import Tenant
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import apply_tenant

TENANT = """\
apiVersion: v1
kind: Secret
metadata: {{name: {name}, labels: {{atende.dev/tenant: {name}}}}}
stringData: {{hook: hook-secret-0123456789abcdef}}
---
apiVersion: atende.dev/v1alpha1
kind: BotTenant
metadata: {{name: {name}}}
spec:
  displayName: {display}
  whaticket:
    variant: saas
    connections: [{{name: main}}]
  webhook: {{secretRefs: [{{name: {name}, key: hook}}]}}
  persona:
    systemPrompt: Você é a assistente virtual da {display}, cordial e objetiva.
  knowledge:
    entries:
      - {{question: "Qual o segredo da casa?", answer: "{answer}"}}
"""
BOLO = "Nossa receita de bolo de fubá leva erva doce e casca de laranja ralada na hora."


class Ref(NamedTuple):
    id: int
    version: int
    own: str = ""


PIZZA = "Nossa massa de pizza descansa setenta e duas horas em geladeira antes de assar."


async def apply(sessionmaker: SessionMaker, name: str, display: str, answer: str) -> Ref:
    (manifest,), secrets = load_manifests(TENANT.format(name=name, display=display, answer=answer))
    async with transaction(sessionmaker) as session:
        await apply_tenant(session, manifest, secrets, CredentialCipher("k" * 32))
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == name))
        assert tenant is not None
        return Ref(tenant.id, tenant.version)


async def guard_for(
    guards: guard.OutputGuards, sessionmaker: SessionMaker, ref: Ref
) -> guard.OutputGuard:
    return await guards.for_tenant(
        sessionmaker,
        ref.id,
        ref.version,
        ["a-secret-value-123"],
        lambda foreign: guard.OutputGuard.build(
            canary="CANARY-XYZ", protected=[], public=[ref.own], foreign=foreign
        ),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_reused_until_another_tenant_changes(clean_db: SessionMaker) -> None:
    clock = Clock()
    guards = guard.OutputGuards(foreign=ForeignIndex(clock=clock))
    padaria = (await apply(clean_db, "padaria", "Padaria Central", BOLO))._replace(own=BOLO)
    pizzaria = await apply(clean_db, "pizzaria", "Pizzaria Napolitana", "Temos borda recheada.")

    first = await guard_for(guards, clean_db, padaria)
    assert await guard_for(guards, clean_db, padaria) is first  # the same guard, not rebuilt
    assert first.check(PIZZA).reason is None  # not the other tenant's data (yet)
    assert first.check(f"Veja só: {BOLO}").reason is None  # its own knowledge is public

    # The other tenant publishes a new secret recipe: the padaria's next reply must not quote it
    # (the padaria's own guard is not rebuilt for it: the shared index has caught up).
    await apply(clean_db, "pizzaria", "Pizzaria Napolitana", PIZZA)
    clock.now += 0.5  # within the second the index was asked: not yet seen, no query made
    assert (await guard_for(guards, clean_db, padaria)).check(PIZZA).reason is None
    clock.now += REFRESH_SECONDS
    fresh = await guard_for(guards, clean_db, padaria)
    assert fresh.check(f"Olha: {PIZZA}").reason == "cross_tenant"
    assert fresh.check("A Pizzaria Napolitana abre às 18h.").reason == "cross_tenant"

    # And the pizzaria's own guard sees the padaria's recipe as foreign, its own as public.
    pizza_guard = await guard_for(guards, clean_db, pizzaria._replace(version=2, own=PIZZA))
    assert pizza_guard.check(BOLO).reason == "cross_tenant"
    assert pizza_guard.check(PIZZA).reason is None
