"""The cross-tenant check tells a customer nothing about other tenants, and costs memory in
proportion to the platform's knowledge, not tenants × knowledge.

* A customer who types a guessed name or phrase and gets it echoed back sees the same kind of
  answer whether or not it belongs to another tenant: what the customer typed is never a reason
  to block (a refusal would confirm the guess).
* When the model itself brings another tenant's data, the customer gets the tenant's usual
  fallback, the same message any failed answer gets, not a refusal that singles it out.
* A worker's guards share one index: adding tenants grows it linearly.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

from sqlalchemy import select

from services.core import guard
from services.core.db import SessionMaker, transaction
from services.core.models import Conversation
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import load_manifests
from services.core.tenants.service import apply_tenant
from tests.fixtures.turns import FALLBACK, Harness
from tests.standins.gemini import Reply

from .test_injections import GLOBEX_KNOWLEDGE, GLOBEX_NAME, PERSONA, two_tenants

GLOBEX_ANSWER = GLOBEX_KNOWLEDGE[0]["answer"]
MADE_UP = "Devolvemos o valor em dobro em até trinta dias úteis depois da compra."


def _echo(request_text: str) -> str:
    return f"Não encontrei nada sobre isso: {request_text}"


async def test_an_echoed_guess_is_answered_alike_whoever_owns_it(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness()
    await two_tenants(harness)
    for guess in (GLOBEX_ANSWER, MADE_UP, f"Vocês são a {GLOBEX_NAME}?"):
        harness.gemini.script(Reply.text(_echo(guess)))
        await harness.run(await harness.ingest(guess, phone="5511955550001"))
    assert harness.delivered() == [
        _echo(GLOBEX_ANSWER),
        _echo(MADE_UP),
        _echo(f"Vocês são a {GLOBEX_NAME}?"),
    ]


async def test_the_model_quoting_another_tenant_gets_the_usual_fallback(
    make_harness: Callable[..., Harness],
) -> None:
    harness = make_harness()
    await two_tenants(harness)
    harness.gemini.script(Reply.text(f"Boa pergunta! {GLOBEX_ANSWER}"))
    await harness.run(await harness.ingest("Qual a política de vocês?"))
    assert harness.delivered() == [FALLBACK]  # what a failed answer says, nothing distinctive


async def test_the_default_fallback_for_another_tenant_s_words_promises_no_person(
    make_harness: Callable[..., Harness],
) -> None:
    """A failed answer hands over when tickets can be moved, so its default promises a person;
    a reply blocked for another tenant's words does not, and neither does what it says."""
    harness = make_harness()
    await two_tenants(harness)
    # ACME again, with an agent user (tickets can be moved) and no fallback text of its own
    await harness.apply_tenant(agent_password="bot-password", persona={"systemPrompt": PERSONA})
    harness.gemini.script(Reply.text(f"Boa pergunta! {GLOBEX_ANSWER}"))
    await harness.run(await harness.ingest("Qual a política de vocês?"))
    assert harness.delivered() == [
        "Desculpe, não consegui responder agora. Pode tentar de novo daqui a pouco?"
    ]
    async with harness.sessionmaker() as session:
        assert await session.scalar(select(Conversation.state)) == "bot"  # nobody took it


def test_typed_words_are_no_reason_but_the_rest_of_the_reply_still_is() -> None:
    foreign = guard.ForeignData()
    foreign.names.add(GLOBEX_NAME)
    output_guard = guard.OutputGuard.build(
        canary="ATD-ABC123-DEF456",
        protected=["Você é a Ana, assistente virtual da ACME Telecom."],
        public=["ACME Telecom"],
        foreign=foreign,
    )
    typed = [f"a {GLOBEX_NAME} é de vocês?"]
    assert output_guard.check(f"Não conheço a {GLOBEX_NAME}.", typed).reason is None
    unprompted = output_guard.check(f"A {GLOBEX_NAME} também usa este bot.")
    assert (unprompted.reason, unprompted.text) == ("cross_tenant", "")
    # A leak of this tenant's own secrets is still blocked, typed or not.
    leak = output_guard.check("O código é ATD-ABC123-DEF456")
    assert (leak.reason, leak.text) == ("canary", "")


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
  displayName: Empresa {n} Comercial
  whaticket:
    variant: saas
    connections: [{{name: main}}]
  webhook: {{secretRefs: [{{name: {name}, key: hook}}]}}
  persona:
    systemPrompt: Você é a assistente virtual da empresa {n}, cordial e objetiva sempre.
  knowledge:
    entries:
{entries}
"""


def _tenant_file(n: int, entries: int = 40) -> str:
    lines = [
        f'      - {{question: "Pergunta {i} da empresa {n}?", '
        f'answer: "A empresa {n} responde {i} com o prazo {i * n} e o código {n}-{i}-{i * 7}."}}'
        for i in range(entries)
    ]
    return TENANT.format(name=f"empresa-{n}", n=n, entries="\n".join(lines))


async def _apply(sessionmaker: SessionMaker, n: int) -> int:
    (manifest,), secrets = load_manifests(_tenant_file(n))
    async with transaction(sessionmaker) as session:
        await apply_tenant(session, manifest, secrets, CredentialCipher("k" * 32))
    return n


async def _guards_memory(sessionmaker: SessionMaker, tenants: int) -> int:
    """Bytes held by one worker's guards after every tenant's guard was built once."""
    guards = guard.OutputGuards()

    def builder(tenant_id: int) -> Callable[[guard.ForeignLookup], guard.OutputGuard]:
        return lambda foreign: guard.OutputGuard.build(
            canary="C", protected=[], public=[], foreign=foreign, tenant_id=tenant_id
        )

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for tenant_id in range(1, tenants + 1):
            await guards.for_tenant(sessionmaker, tenant_id, 1, [], builder(tenant_id))
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


async def test_the_guards_memory_grows_with_knowledge_not_tenants_times_knowledge(
    clean_db: SessionMaker,
) -> None:
    for n in range(1, 21):
        await _apply(clean_db, n)
    twenty = await _guards_memory(clean_db, 20)
    for n in range(21, 41):
        await _apply(clean_db, n)
    forty = await _guards_memory(clean_db, 40)
    # Twice the tenants, twice the knowledge: linear is 2×; a copy of the others per tenant
    # would be 4×.
    assert forty < 2.6 * twenty, (twenty, forty)
