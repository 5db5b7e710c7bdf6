"""Tenants are strangers, through the real api, worker and CLI (issue: one tenant hurting or
spying on another).

* A session cookie one tenant's Whaticket sets never rides along on another tenant's requests
  to the same host (a shared SaaS Whaticket serves many companies on one host), nor on the
  tenant's own later ones.
* The cross-tenant output guard tells a customer nothing: an echoed guess is answered alike
  whoever owns it, and a reply quoting another tenant gets the tenant's usual fallback.
* A model the platform key does not pay for is never called, even when an operator's override
  names it: the customer gets the fallback and ``atende dlq list`` says why.
"""

from __future__ import annotations

import json

from services.core.models import Handoff
from tests.standins.gemini import Reply

from .conftest import FALLBACK, TENANT, Stack, baileys_text, eventually, tenant_yaml

OTHER = "globex"
OTHER_ANSWER = "Devolvemos o valor integral em até sete dias corridos após o cancelamento."
OTHER_YAML_KNOWLEDGE = (
    "  knowledge:\n"
    "    entries:\n"
    f'      - {{question: "Qual a política de reembolso?", answer: "{OTHER_ANSWER}"}}\n'
)


async def _apply_other_tenant(stack: Stack, *, knowledge: str = "") -> None:
    """A second company on the same Whaticket host, with its own Secret and webhook secret."""
    manifest = tenant_yaml(stack.whaticket.url).replace(TENANT, OTHER)
    if knowledge:
        manifest = manifest.replace(
            '  knowledge:\n    entries:\n      - {question: "Formas de pagamento?", '
            'answer: "Pix, cartão e boleto."}\n',
            knowledge,
        )
        assert OTHER_ANSWER in manifest
    path = stack.tmp / f"{OTHER}.yaml"
    path.write_text(manifest)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, f"{out}\n{err}"


async def _post_as(stack: Stack, tenant: str, msg_id: str, text: str, phone: str) -> None:
    response = await stack.http.post(
        stack.hook_path(tenant=tenant), json=baileys_text(msg_id, text, phone)
    )
    assert (response.status_code, response.json()) == (200, {"status": "accepted"})


async def test_a_whaticket_session_cookie_never_rides_along_to_anyone(stack: Stack) -> None:
    await stack.apply_tenant(handoff=True)
    await _apply_other_tenant(stack)
    acme_customer, globex_customer = "5511955550101", "5511955550202"
    stack.whaticket.add_ticket(acme_customer)

    # acme's handoff signs its agent in: Whaticket answers with its refresh cookie (jrt).
    await _post_as(stack, TENANT, "COOKIE-1", "quero falar com um atendente", acme_customer)

    async def transferred() -> Handoff | None:
        handoffs = await stack.rows(Handoff)
        return handoffs[0] if handoffs and handoffs[0].status == "transferred" else None

    await eventually(transferred, within=20, what="acme's handoff to sign in and transfer")
    logins = [r for r in stack.whaticket.requests() if r["path"] == "/auth/login"]
    assert [r["status"] for r in logins] == [200]  # the cookie was offered

    # Then both companies' customers are answered through the same host.
    await _post_as(stack, OTHER, "COOKIE-2", "Oi, tudo bem?", globex_customer)
    await stack.wait_sent(1, number=globex_customer)
    await _post_as(stack, TENANT, "COOKIE-3", "Oi de novo", "5511955550303")
    await stack.wait_sent(1, number="5511955550303")

    after_login = stack.whaticket.requests()[stack.whaticket.requests().index(logins[0]) + 1 :]
    assert len(after_login) >= 3  # the ticket move and both replies
    assert [r["path"] for r in stack.whaticket.requests() if r["sent_cookie"]] == []


async def test_the_output_guard_answers_a_guess_alike_and_a_leak_with_the_usual_fallback(
    stack: Stack,
) -> None:
    await _apply_other_tenant(stack, knowledge=OTHER_YAML_KNOWLEDGE)
    guesser, victim = "5511955550404", "5511955550505"

    # The customer types globex's own answer and the model echoes it: not a reason to block,
    # or the reply would confirm whose words they are.
    echo = f"Não encontrei nada sobre isso: {OTHER_ANSWER}"
    stack.gemini.script(Reply.text(echo))
    await _post_as(stack, TENANT, "GUARD-1", OTHER_ANSWER, guesser)
    [sent] = await stack.wait_sent(1, number=guesser)
    assert sent["text"] == echo

    # The model itself brings globex's data to acme's customer: blocked, with acme's usual
    # fallback, the same words any failed answer gets.
    stack.gemini.script(Reply.text(f"Boa pergunta! {OTHER_ANSWER}"))
    await _post_as(stack, TENANT, "GUARD-2", "Qual a política de vocês?", victim)
    [sent] = await stack.wait_sent(1, number=victim)
    assert sent["text"] == FALLBACK
    assert all(OTHER_ANSWER not in d["text"] for d in stack.sent_to(victim))


async def test_an_override_to_a_model_the_platform_does_not_pay_for_is_never_called(
    stack: Stack,
) -> None:
    expensive = "gemini-3-ultra-preview"
    code, out, err = await stack.run_cli("tenants", "model", TENANT, expensive)
    assert code == 0, f"{out}\n{err}"
    before = stack.gemini.request_count

    await _post_as(stack, TENANT, "MODEL-1", "Oi, tudo bem?", "5511955550606")
    [sent] = await stack.wait_sent(1, number="5511955550606")
    assert sent["text"] == FALLBACK
    assert stack.gemini.request_count == before
    assert not any(expensive in r.path for r in stack.gemini.requests)

    async def dead_letters() -> list[dict[str, object]]:
        code, out, _ = await stack.run_cli("dlq", "list", "-o", "json")
        assert code == 0
        return list(json.loads(out))

    letters = await eventually(dead_letters, within=15, what="the dead letter")
    assert [d["error_class"] for d in letters] == ["model_not_allowed"]
