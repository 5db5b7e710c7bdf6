"""Knowledge per tenant: the index, and what a turn looks up.

* :func:`sync` mirrors a tenant's question/answer pairs (``spec.knowledge.entries``) into
  ``knowledge_entries`` (called by ``apply_tenant``, in its transaction): the tenant's rows are
  replaced when the knowledge or the language changed, and left alone otherwise. Each row
  carries its text's hash, which names its vector (:mod:`.embeddings`).
* :func:`lookup` is what a turn calls: hybrid retrieval (:mod:`.retrieval`, full-text search
  alone without an embedder) behind a Redis cache keyed by tenant, knowledge version, embedding
  model and normalized question, so a knowledge change is never served stale, and a repeated
  turn (a retry) embeds its text no second time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import SessionMaker
from services.core.logging import get_logger
from services.core.models import KnowledgeEntry as KnowledgeRow

from .embeddings import Embedder, content_hash
from .retrieval import cap, retrieve
from .search import (
    DEFAULT_LIMIT,
    QuestionAnswer,
    Snippet,
    normalize_question,
    text_search_config,
)

log = get_logger(__name__)

CACHE_TTL_SECONDS = 600
# What the entries in one turn's prompt may add up to (question and answer characters, about
# a quarter of that in tokens), unless the tenant says otherwise (spec.knowledge).
DEFAULT_MAX_CHARS = 6000


def knowledge_version(language: str, entries: Sequence[QuestionAnswer]) -> str:
    """A hash of what is indexed: the search configuration and the entries, in order."""
    material = json.dumps(
        [text_search_config(language), [[e.question, e.answer] for e in entries]],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode()).hexdigest()


async def sync(
    session: AsyncSession, tenant_id: int, language: str, entries: Sequence[QuestionAnswer]
) -> bool:
    """Make the tenant's rows mirror ``entries``; True when they were replaced."""
    version = knowledge_version(language, entries)
    stored = set(
        await session.scalars(
            select(KnowledgeRow.version).where(KnowledgeRow.tenant_id == tenant_id).distinct()
        )
    )
    if stored == ({version} if entries else set()):
        return False
    await session.execute(delete(KnowledgeRow).where(KnowledgeRow.tenant_id == tenant_id))
    config = text_search_config(language)
    session.add_all(
        KnowledgeRow(
            tenant_id=tenant_id,
            position=i,
            version=version,
            config=config,
            question=e.question,
            answer=e.answer,
            content_hash=content_hash(e.question, e.answer),
        )
        for i, e in enumerate(entries)
    )
    await session.flush()
    log.info("knowledge.synced", tenant_id=tenant_id, entries=len(entries), version=version[:12])
    return True


def cache_key(
    tenant_id: int,
    version: str,
    question: str,
    limit: int = DEFAULT_LIMIT,
    embedder: Embedder | None = None,
) -> str:
    digest = hashlib.sha256(normalize_question(question).encode()).hexdigest()[:32]
    how = "fts" if embedder is None else f"{embedder.model}:{embedder.dimensions}"
    return f"atende:knowledge:{tenant_id}:{version[:16]}:{how}:{limit}:{digest}"


async def lookup(
    sessionmaker: SessionMaker,
    redis: Redis,
    tenant_id: int,
    language: str,
    entries: Sequence[QuestionAnswer],
    text: str,
    limit: int = DEFAULT_LIMIT,
    *,
    embedder: Embedder | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[Snippet]:
    """The snippets a turn answers ``text`` from the tenant's ``entries`` in ``language``, at
    most ``limit`` and ``max_chars``: [] when there are none (the caller passes none while the
    tenant's knowledge is off). ``embedder``: the tenant's, None for full-text search only.

    Cached in Redis for :data:`CACHE_TTL_SECONDS` under the knowledge version, so a change of
    knowledge invalidates every cached answer at once; a fallback to full-text search is not
    cached (the vectors may be there the next turn); Redis trouble only costs a search."""
    if not entries or not normalize_question(text):
        return []
    version = knowledge_version(language, entries)
    key = cache_key(tenant_id, version, text, limit, embedder)
    try:
        cached = await redis.get(key)
    except (RedisError, OSError) as exc:
        log.warning("knowledge.cache_unavailable", error=type(exc).__name__)
        cached = None
    if cached is not None:
        try:
            return cap([Snippet(**item) for item in json.loads(cached)], max_chars)
        except (ValueError, TypeError):
            pass
    found = await retrieve(sessionmaker, tenant_id, language, text, limit, embedder)
    if not found.fell_back:
        try:
            payload = json.dumps([asdict(s) for s in found.snippets])
            await redis.set(key, payload, ex=CACHE_TTL_SECONDS)
        except (RedisError, OSError) as exc:
            log.warning("knowledge.cache_unavailable", error=type(exc).__name__)
    return cap(found.snippets, max_chars)
