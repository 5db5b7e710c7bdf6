"""Knowledge per tenant: the tenant's entries indexed for full-text search, and a Redis cache of
the lookups (see :mod:`.service`)."""

from .service import (
    CACHE_TTL_SECONDS,
    QuestionAnswer,
    Snippet,
    cache_key,
    knowledge_version,
    lookup,
    normalize_question,
    search,
    sync,
    text_search_config,
)

__all__ = [
    "CACHE_TTL_SECONDS",
    "QuestionAnswer",
    "Snippet",
    "cache_key",
    "knowledge_version",
    "lookup",
    "normalize_question",
    "search",
    "sync",
    "text_search_config",
]
