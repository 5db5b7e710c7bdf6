"""Hybrid retrieval through the real processes: ``atende tenants apply`` enqueues the embedding
of the tenant's FAQ, the worker embeds it with the Gemini stand-in's real vectors, and a
colloquial question that shares no word with its entry (full-text search finds nothing) gets
that entry, and only it (``maxEntriesInPrompt: 1``), into the prompt sent to Gemini."""

from __future__ import annotations

from sqlalchemy import func, select

from services.core.models import KnowledgeEmbedding

from .conftest import CUSTOMER, Stack, baileys_text, eventually, tenant_yaml

FAQ = [
    ("Qual o horário de funcionamento da loja?", "Segunda a sexta das 8h às 18h; sábados até 12h."),
    ("Posso parcelar a compra?", "Em até 6 vezes sem juros no cartão de crédito."),
    ("Qual o prazo de entrega?", "De 2 a 5 dias úteis para as capitais."),
    ("Como trocar a senha do Wi-Fi?", "Acesse 192.168.0.1 e altere em Wi-Fi > Segurança."),
    ("Como cancelar o contrato?", "Pelo WhatsApp ou na loja; há multa dentro da fidelidade."),
]
ORIGINAL_ENTRY = '      - {question: "Formas de pagamento?", answer: "Pix, cartão e boleto."}\n'


def faq_yaml(whaticket_url: str) -> str:
    entries = "".join(f'      - {{question: "{q}", answer: "{a}"}}\n' for q, a in FAQ)
    text = tenant_yaml(whaticket_url)
    assert ORIGINAL_ENTRY in text
    return text.replace("  knowledge:\n", "  knowledge:\n    maxEntriesInPrompt: 1\n").replace(
        ORIGINAL_ENTRY, entries
    )


async def _vectors(stack: Stack) -> int:
    async with stack.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(KnowledgeEmbedding))
    return int(count or 0)


async def test_a_colloquial_question_gets_its_entry_into_the_prompt(stack: Stack) -> None:
    path = stack.tmp / "faq.yaml"
    path.write_text(faq_yaml(stack.whaticket.url))
    code, _, err = await stack.run_cli("tenants", "apply", "-f", str(path))
    assert code == 0, err

    # The worker's job embeds each entry twice (its question, the whole entry); the old entry's
    # vectors are pruned.
    async def embedded() -> bool:
        return await _vectors(stack) == 2 * len(FAQ)

    await eventually(embedded, within=30.0, what="the FAQ's vectors")

    response = await stack.post(baileys_text("RAG-1", "quanto tempo demora pra chegar?"))
    assert response.json() == {"status": "accepted"}, response.text
    await stack.wait_sent(1, number=CUSTOMER, within=20.0)

    prompt = stack.gemini.last_request.system_instruction
    delivery = FAQ[2]
    assert f"- P: {delivery[0]}\n  R: {delivery[1]}" in prompt
    assert [q for q, _ in FAQ if q in prompt] == [delivery[0]]
    queries = [
        r
        for call in stack.gemini.embed_requests
        for r in call.body["requests"]
        if r.get("taskType") == "RETRIEVAL_QUERY"
    ]
    assert len(queries) == 1
