"""The retrieval benchmark's data and code on a subset (bench/retrieval.py): for the four
questions of issue 17, the hybrid ranking puts the right entry into the prompt (the first
``DEFAULT_LIMIT``). Full-text search alone finds none for the two that share no word (stem)
with their entry ("quanto tempo demora pra chegar?", "até que horas vocês abrem?"); the two
it does find ("funcionam" stems like "funcionamento", "parcelar" is in the entry) stay first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from bench.retrieval import load_faq, rankers
from bench.retrieval_faq import FAQ, ISSUE_QUESTIONS
from services.core import knowledge
from services.core.db import SessionMaker
from services.core.llm.embedder import GeminiEmbedder
from services.core.llm.gemini import GeminiClient
from tests.standins.gemini import GeminiStandin

KEY = "test-key"


@pytest_asyncio.fixture(loop_scope="session")
async def embedder() -> AsyncIterator[GeminiEmbedder]:
    with GeminiStandin(api_key=KEY) as standin:
        client = GeminiClient(KEY, base_url=standin.base_url)
        try:
            yield GeminiEmbedder(client, "gemini-embedding-001", 768)
        finally:
            await client.aclose()


def subset() -> list[tuple[str, str]]:
    """The four questions' entries among a third of the FAQ (every third entry)."""
    wanted = {label for _, label in ISSUE_QUESTIONS}
    return [e for i, e in enumerate(FAQ) if e[0] in wanted or i % 3 == 0]


async def test_hybrid_finds_what_full_text_search_alone_misses(
    clean_db: SessionMaker, embedder: GeminiEmbedder
) -> None:
    entries = subset()
    tenant_id = await load_faq(clean_db, "faq", entries, "retrieval-bench-test-key")
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    rank = rankers(clean_db, tenant_id, embedder)
    k = knowledge.DEFAULT_LIMIT
    missed: list[str] = []

    for question, label in ISSUE_QUESTIONS:
        words = await rank["fulltext"](question)
        hybrid = await rank["hybrid"](question)
        assert label in hybrid[:k], (question, hybrid[:k])
        if label in words[:k]:
            assert words[0] == hybrid[0] == label, (question, words[:k], hybrid[:k])
        else:
            missed.append(question)
    assert missed == [ISSUE_QUESTIONS[2][0], ISSUE_QUESTIONS[3][0]]
