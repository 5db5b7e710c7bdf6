"""The vectors of a tenant's knowledge: which texts lack one, computing them, pruning the rest.

An entry's vector is keyed by its text's hash (:func:`content_hash`), so a knowledge change
embeds only the entries whose text changed; the job (:func:`embed_tenant`) is idempotent: it
embeds what is missing for the current model and size, in batches committed one by one (a retry
resumes where it stopped), then prunes the vectors no entry uses any more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from arq.connections import ArqRedis
from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.core import jobs
from services.core.db import SessionMaker, transaction
from services.core.errors import PermanentError, TransientError
from services.core.logging import get_logger
from services.core.models import KnowledgeEmbedding, Tenant
from services.core.models import KnowledgeEntry as KnowledgeRow
from services.core.retry import RetryLater, backoff

log = get_logger(__name__)

TaskType = Literal["RETRIEVAL_DOCUMENT", "RETRIEVAL_QUERY"]
# batchEmbedContents takes at most 100 requests.
BATCH = 100


class Embedder(Protocol):
    """A text-embedding model at a fixed output size (Gemini's, in services/core/llm)."""

    @property
    def model(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    async def embed(self, texts: Sequence[str], task: TaskType) -> list[list[float]]:
        """One vector per text, in order; ``TransientError`` / ``PermanentError`` on failure."""
        ...


# Each entry is embedded twice: its question alone (the nearest to how customers ask) and the
# whole entry (what the answer is about); an entry is as near as the nearer of the two. On the
# benchmark (docs/benchmarks.md) the pair finds the right entry in the first five for 92 % of
# the questions, against 83-85 % for either alone.
View = Literal["question", "entry"]
VIEWS: tuple[View, ...] = ("question", "entry")


def document_text(question: str, answer: str) -> str:
    """The whole entry, as hashed and embedded: its question, then its answer."""
    return f"{question}\n{answer}"


def view_text(view: View, question: str, answer: str) -> str:
    return question if view == "question" else document_text(question, answer)


def content_hash(question: str, answer: str) -> str:
    """sha256 of :func:`document_text` (migration 0014 computes the same in SQL)."""
    return hashlib.sha256(document_text(question, answer).encode()).hexdigest()


def _has_view(model: str, dimensions: int, view: View) -> ColumnElement[bool]:
    return exists().where(
        KnowledgeEmbedding.tenant_id == KnowledgeRow.tenant_id,
        KnowledgeEmbedding.content_hash == KnowledgeRow.content_hash,
        KnowledgeEmbedding.model == model,
        KnowledgeEmbedding.dimensions == dimensions,
        KnowledgeEmbedding.view == view,
    )


def _has_vector(model: str, dimensions: int) -> ColumnElement[bool]:
    """The entry row has every view's vector of this model and size."""
    return and_(*(_has_view(model, dimensions, view) for view in VIEWS))


Missing = tuple[str, View, str]  # content hash, view, the text to embed


async def missing(
    session: AsyncSession, tenant_id: int, model: str, dimensions: int
) -> list[Missing]:
    """The views of the tenant's entries without a vector, once per text."""
    todo: dict[tuple[str, View], str] = {}
    for view in VIEWS:
        rows = await session.execute(
            select(KnowledgeRow.content_hash, KnowledgeRow.question, KnowledgeRow.answer)
            .where(KnowledgeRow.tenant_id == tenant_id, not_(_has_view(model, dimensions, view)))
            .order_by(KnowledgeRow.position)
        )
        for r in rows:
            todo[(r.content_hash, view)] = view_text(view, r.question, r.answer)
    return [(digest, view, text) for (digest, view), text in todo.items()]


@dataclass(frozen=True, slots=True)
class Coverage:
    entries: int
    embedded: int

    @property
    def state(self) -> Literal["complete", "partial", "missing"]:
        if self.embedded == 0:
            return "missing"
        return "complete" if self.embedded >= self.entries else "partial"


async def coverage(session: AsyncSession, tenant_id: int, model: str, dimensions: int) -> Coverage:
    """How many of the tenant's entries have a vector of this model and size."""
    has = _has_vector(model, dimensions)
    row = (
        await session.execute(
            select(func.count(), func.count().filter(has)).where(
                KnowledgeRow.tenant_id == tenant_id
            )
        )
    ).one()
    return Coverage(int(row[0]), int(row[1]))


async def store(
    session: AsyncSession,
    tenant_id: int,
    model: str,
    dimensions: int,
    vectors: Sequence[tuple[str, View, list[float]]],
) -> None:
    """Keep ``(content_hash, view, vector)``s; one already there is left alone."""
    if not vectors:
        return
    await session.execute(
        insert(KnowledgeEmbedding)
        .values(
            [
                {
                    "tenant_id": tenant_id,
                    "content_hash": digest,
                    "model": model,
                    "dimensions": dimensions,
                    "view": view,
                    "embedding": vector,
                }
                for digest, view, vector in vectors
            ]
        )
        .on_conflict_do_nothing()
    )


async def prune(session: AsyncSession, tenant_id: int, model: str, dimensions: int) -> int:
    """Drop the tenant's vectors no entry uses, and those of another model or size."""
    used = select(KnowledgeRow.content_hash).where(KnowledgeRow.tenant_id == tenant_id)
    result = await session.execute(
        delete(KnowledgeEmbedding).where(
            KnowledgeEmbedding.tenant_id == tenant_id,
            or_(
                KnowledgeEmbedding.content_hash.not_in(used),
                not_(
                    and_(
                        KnowledgeEmbedding.model == model,
                        KnowledgeEmbedding.dimensions == dimensions,
                    )
                ),
            ),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class EmbedOutcome:
    embedded: int
    pruned: int


async def embed_tenant(
    sessionmaker: SessionMaker, tenant_id: int, embedder: Embedder
) -> EmbedOutcome:
    """Embed the tenant's entries that lack a vector, then prune; raises the embedder's errors
    (what was stored before stays, so a retry only does the rest)."""
    model, dimensions = embedder.model, embedder.dimensions
    async with sessionmaker() as session:
        todo = await missing(session, tenant_id, model, dimensions)
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        vectors = await embedder.embed([text for _, _, text in batch], "RETRIEVAL_DOCUMENT")
        async with transaction(sessionmaker) as session:
            rows = [(d, view, v) for (d, view, _), v in zip(batch, vectors, strict=True)]
            await store(session, tenant_id, model, dimensions, rows)
    async with transaction(sessionmaker) as session:
        pruned = await prune(session, tenant_id, model, dimensions)
    if todo or pruned:
        log.info("knowledge.embedded", tenant_id=tenant_id, embedded=len(todo), pruned=pruned)
    return EmbedOutcome(len(todo), pruned)


async def embed_job(
    sessionmaker: SessionMaker, tenant_id: int, embedder: Embedder | None, attempt: int
) -> EmbedOutcome | None:
    """The embedding job: :func:`embed_tenant`, with a transient failure (Gemini down, a 429)
    tried again later (``RetryLater``, backed off by ``attempt``) and a permanent one (a bad key)
    logged and left: turns use full-text search meanwhile, and the sweeper tries again later.
    None when nothing was done (no embedder: no key, or embeddings off)."""
    if embedder is None:
        return None
    try:
        return await embed_tenant(sessionmaker, tenant_id, embedder)
    except TransientError as exc:
        defer = max(backoff(attempt, base=2.0, cap=300.0), exc.retry_after or 0)
        raise RetryLater(defer, exc.error_class) from exc
    except PermanentError as exc:
        log.warning("knowledge.embedding_refused", tenant_id=tenant_id, error=exc.error_class)
        return None


async def unembedded_tenants(
    session: AsyncSession, model: str, dimensions: int, limit: int = 100
) -> list[int]:
    """Enabled tenants with an entry lacking a vector (what the sweeper re-enqueues)."""
    rows = await session.scalars(
        select(KnowledgeRow.tenant_id)
        .join(Tenant, Tenant.id == KnowledgeRow.tenant_id)
        .where(Tenant.enabled.is_(True), not_(_has_vector(model, dimensions)))
        .distinct()
        .order_by(KnowledgeRow.tenant_id)
        .limit(limit)
    )
    return list(rows)


async def requeue_embeddings(
    sessionmaker: SessionMaker, redis: ArqRedis, model: str, dimensions: int, period: int
) -> int:
    """The sweeper's part: enqueue the embedding of every enabled tenant with an entry lacking
    a vector (a lost enqueue, a job out of retries, a new model or size); the job id carries the
    sweep ``period`` so arq's dedupe never swallows it."""
    if not model:
        return 0
    async with sessionmaker() as session:
        tenant_ids = await unembedded_tenants(session, model, dimensions)
    for tenant_id in tenant_ids:
        await jobs.enqueue_embedding(redis, tenant_id, f"sweep{period}")
    return len(tenant_ids)
