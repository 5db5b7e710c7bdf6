"""Hybrid retrieval: the tenant's entries nearest the customer's words by meaning (pgvector) and
by words (full-text search), fused by reciprocal rank, bounded for the prompt.

A turn embeds its text once (task type ``RETRIEVAL_QUERY``) and only when every entry of the
tenant has a vector of the current model and size; while they are missing or partial (just
changed, the job still running), or the embedding call fails, the turn uses full-text search
alone, and says so in ``atende_knowledge_retrievals_total{mode}`` and the log. Every statement
reads only the tenant's rows (``WHERE tenant_id = …`` on both tables).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Float, and_, cast, func, literal, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import SessionMaker
from services.core.errors import DependencyError
from services.core.logging import get_logger
from services.core.metrics import KNOWLEDGE_RETRIEVALS
from services.core.models import KnowledgeEmbedding
from services.core.models import KnowledgeEntry as KnowledgeRow
from services.core.models.knowledge_embedding import Vector

from .embeddings import VIEWS, Embedder, coverage
from .search import Snippet, search

log = get_logger(__name__)

# Reciprocal rank fusion: score = sum over the rankings of 1 / (RRF_K + rank); 60 is the
# constant of Cormack et al. (2009), which damps the weight of the very first places.
RRF_K = 60
# How deep the vector ranking is read before fusing.
CANDIDATES = 20
# How much of the full-text ranking is fused: its best match only. With the question's words
# ORed, its first hit is its one strong signal (a plan's name, a code, a rare word); deeper hits
# mostly share a common word. On the benchmark (docs/benchmarks.md) fusing 20, 3 or 1 of them
# put the right entry in the first five for 83 %, 90 % and 92 % of the questions.
FULLTEXT_DEPTH = 1
# A turn waits this long for its query's vector before answering from full-text search.
QUERY_EMBED_TIMEOUT_SECONDS = 5.0


async def vector_search(
    session: AsyncSession,
    tenant_id: int,
    model: str,
    dimensions: int,
    vector: Sequence[float],
    limit: int = CANDIDATES,
) -> list[Snippet]:
    """The tenant's entries nearest ``vector`` (cosine), best first; ``rank`` is the cosine
    similarity. The distance is on ``embedding::vector(dimensions)``, the expression the HNSW
    index of 768 and 1536 dimensions is built on."""
    if limit <= 0:
        return []
    await _whole_tenant_scan(session, tenant_id, model, dimensions)
    sized = Vector(dimensions)
    between = cast(KnowledgeEmbedding.embedding, sized).op("<=>")
    distance = type_coerce(between(literal(list(vector), sized)), Float)
    nearest = (
        select(KnowledgeEmbedding.content_hash, distance.label("distance"))
        .where(
            KnowledgeEmbedding.tenant_id == tenant_id,
            KnowledgeEmbedding.model == model,
            KnowledgeEmbedding.dimensions == dimensions,
        )
        .order_by(distance)
        .limit(limit * len(VIEWS))
        .cte("nearest")
    )
    nearer = func.min(nearest.c.distance).label("distance")  # of the entry's two views
    rows = await session.execute(
        select(KnowledgeRow.id, KnowledgeRow.question, KnowledgeRow.answer, nearer)
        .join(
            nearest,
            and_(
                KnowledgeRow.tenant_id == tenant_id,
                KnowledgeRow.content_hash == nearest.c.content_hash,
            ),
        )
        .group_by(KnowledgeRow.id)
        .order_by(nearer, KnowledgeRow.position)
        .limit(limit)
    )
    return [Snippet(r.id, r.question, r.answer, 1.0 - float(r.distance)) for r in rows]


_iterative_scan: bool | None = None  # the server's pgvector has hnsw.iterative_scan (0.8+)
# Up to this many vectors of its own, a tenant's are compared exactly (a few milliseconds):
# the HNSW index serves the large ones, whose vectors are a good share of what it walks.
EXACT_UP_TO = 2000


async def _whole_tenant_scan(
    session: AsyncSession, tenant_id: int, model: str, dimensions: int
) -> None:
    """Where the planner walks the HNSW index over every tenant's vectors, the ``tenant_id``
    filter applies after the index scan, which stops at ``hnsw.ef_search`` candidates (40),
    and a graph walk need not reach a small tenant's few vectors at all: a small tenant could
    get none. So a tenant with at most :data:`EXACT_UP_TO` vectors is searched exactly (the
    HNSW index left out for this transaction: its primary key and an exact distance), as is
    every tenant on a pgvector older than 0.8; a larger one walks the index with
    ``iterative_scan``, which goes on until its top ``limit`` pass the filter."""
    global _iterative_scan
    if _iterative_scan is None:
        version = await session.scalar(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        )
        if version is None:  # no pgvector in this database: nothing to tune, nothing to cache
            return
        major_minor = tuple(int(p) for p in str(version).split(".")[:2])
        _iterative_scan = major_minor >= (0, 8)
    own = await session.scalar(
        select(func.count()).where(
            KnowledgeEmbedding.tenant_id == tenant_id,
            KnowledgeEmbedding.model == model,
            KnowledgeEmbedding.dimensions == dimensions,
        )
    )
    if _iterative_scan and (own or 0) > EXACT_UP_TO:
        await session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
    else:  # HNSW has no bitmap scans: this leaves the primary key and an exact distance
        await session.execute(text("SET LOCAL enable_indexscan = off"))


def fuse(rankings: Sequence[Sequence[Snippet]], limit: int) -> list[Snippet]:
    """Reciprocal rank fusion of best-first rankings; ``rank`` becomes the fused score. A tie
    goes to the snippet met first (the earlier ranking, then the better place)."""
    scores: dict[int, float] = {}
    first: dict[int, Snippet] = {}
    for ranking in rankings:
        for place, snippet in enumerate(ranking, start=1):
            scores[snippet.id] = scores.get(snippet.id, 0.0) + 1.0 / (RRF_K + place)
            first.setdefault(snippet.id, snippet)
    order = sorted(scores, key=lambda i: -scores[i])
    return [replace(first[i], rank=scores[i]) for i in order[: max(limit, 0)]]


def cap(snippets: Sequence[Snippet], max_chars: int) -> list[Snippet]:
    """The best snippets whose question and answer fit ``max_chars`` together; the best one
    always goes, its answer cut to fit (and marked) when it alone is longer."""
    kept: list[Snippet] = []
    used = 0
    for snippet in snippets:
        size = len(snippet.question) + len(snippet.answer)
        if kept and used + size > max_chars:
            break
        if not kept and size > max_chars:
            room = max(max_chars - len(snippet.question) - 1, 0)
            snippet = replace(snippet, answer=snippet.answer[:room].rstrip() + "…")
            size = max_chars
        kept.append(snippet)
        used += size
    return kept


@dataclass(frozen=True, slots=True)
class Retrieval:
    snippets: list[Snippet]
    # hybrid | fulltext (no embedder) | missing | partial | unavailable (fell back)
    mode: str

    @property
    def fell_back(self) -> bool:
        return self.mode in ("missing", "partial", "unavailable")


async def retrieve(
    sessionmaker: SessionMaker,
    tenant_id: int,
    language: str,
    text: str,
    limit: int,
    embedder: Embedder | None,
) -> Retrieval:
    """The tenant's best ``limit`` entries for ``text`` (see the module)."""
    async with sessionmaker() as session:
        words = await search(session, tenant_id, language, text, CANDIDATES)
        known = (
            await coverage(session, tenant_id, embedder.model, embedder.dimensions)
            if embedder is not None
            else None
        )
    if embedder is None or known is None:
        return _counted(Retrieval(words[:limit], "fulltext"), tenant_id)
    if known.state != "complete":
        return _counted(Retrieval(words[:limit], known.state), tenant_id)
    try:
        async with asyncio.timeout(QUERY_EMBED_TIMEOUT_SECONDS):
            [vector] = await embedder.embed([text], "RETRIEVAL_QUERY")
    except (DependencyError, TimeoutError, ValueError) as exc:
        reason = getattr(exc, "error_class", type(exc).__name__)
        log.warning("knowledge.query_embedding_failed", tenant_id=tenant_id, error=reason)
        return _counted(Retrieval(words[:limit], "unavailable"), tenant_id)
    async with sessionmaker() as session:
        meaning = await vector_search(
            session, tenant_id, embedder.model, embedder.dimensions, vector
        )
    matched = {s.id for s in words}
    fused = [  # a tie goes to meaning
        replace(s, words=s.id in matched) for s in fuse([meaning, words[:FULLTEXT_DEPTH]], limit)
    ]
    return _counted(Retrieval(fused, "hybrid"), tenant_id)


def _counted(retrieval: Retrieval, tenant_id: int) -> Retrieval:
    KNOWLEDGE_RETRIEVALS.labels(retrieval.mode).inc()
    if retrieval.mode in ("missing", "partial"):
        log.info("knowledge.fulltext_only", tenant_id=tenant_id, reason=retrieval.mode)
    return retrieval
