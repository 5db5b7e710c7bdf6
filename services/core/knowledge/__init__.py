"""Knowledge per tenant: the tenant's entries indexed for full-text search and embedded for
search by meaning, hybrid retrieval, and a Redis cache of the lookups (see :mod:`.service`)."""

from .embeddings import (
    Embedder,
    EmbedOutcome,
    TaskType,
    embed_job,
    embed_tenant,
    requeue_embeddings,
    unembedded_tenants,
)
from .retrieval import Retrieval, fuse, retrieve, vector_search
from .search import (
    DEFAULT_LIMIT,
    QuestionAnswer,
    Snippet,
    normalize_question,
    search,
    text_search_config,
)
from .service import (
    CACHE_TTL_SECONDS,
    DEFAULT_MAX_CHARS,
    cache_key,
    knowledge_version,
    lookup,
    sync,
)

__all__ = [
    "CACHE_TTL_SECONDS",
    "DEFAULT_LIMIT",
    "DEFAULT_MAX_CHARS",
    "EmbedOutcome",
    "Embedder",
    "QuestionAnswer",
    "Retrieval",
    "Snippet",
    "TaskType",
    "cache_key",
    "embed_job",
    "embed_tenant",
    "fuse",
    "knowledge_version",
    "lookup",
    "normalize_question",
    "requeue_embeddings",
    "retrieve",
    "search",
    "sync",
    "text_search_config",
    "unembedded_tenants",
    "vector_search",
]
