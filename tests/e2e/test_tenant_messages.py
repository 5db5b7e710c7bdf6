"""A tenant's own words through the real api and worker: the fallback of a turn Gemini cannot
answer and the handoff notice are the tenant's ``spec.messages``, placeholders filled, as the
Whaticket stand-in receives them."""

from __future__ import annotations

from tests.standins.gemini import Reply

from .conftest import CUSTOMER, FALLBACK, Stack, baileys_text, tenant_yaml

OTHER = "5511988880002"
MESSAGES = """\
  messages:
    fallback: "A {empresa} está fora do ar por um instante; escreva {palavra} se tiver pressa."
    handoff: "Combinado! Uma pessoa da {empresa} assume a conversa {quando}."
"""


async def test_the_tenant_s_fallback_and_handoff_notice_reach_whaticket(stack: Stack) -> None:
    path = stack.tmp / "messages.yaml"
    path.write_text(tenant_yaml(stack.whaticket.url, handoff=True) + MESSAGES)
    code, out, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err
    assert "updated" in out, out

    # Gemini refuses the key: the turn gives up at once and sends the tenant's fallback (it
    # wins over the deprecated persona.fallbackMessage the file also has).
    stack.whaticket.add_ticket(OTHER)
    stack.gemini.script(Reply.bad_key())
    response = await stack.post(baileys_text("MSG-FALLBACK", "qual o meu saldo?", phone=OTHER))
    assert response.json() == {"status": "accepted"}
    [sent] = await stack.wait_sent(1, number=OTHER)
    assert sent["text"] == (
        "A ACME Telecom está fora do ar por um instante; escreva atendente se tiver pressa."
    )
    assert FALLBACK not in sent["text"]

    # The keyword the fallback named hands over, with the tenant's notice.
    stack.whaticket.add_ticket(CUSTOMER)
    response = await stack.post(baileys_text("MSG-HANDOFF", "quero um atendente"))
    assert response.json() == {"status": "accepted"}
    [sent] = await stack.wait_sent(1, number=CUSTOMER)
    assert sent["text"] == "Combinado! Uma pessoa da ACME Telecom assume a conversa em breve."
