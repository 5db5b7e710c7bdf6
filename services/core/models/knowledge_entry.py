from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import REGCONFIG, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin

# An IMMUTABLE wrapper of the ``unaccent`` extension (created by migration 0004): a generated
# column may only call immutable functions, and ``unaccent(text)`` is merely stable.
UNACCENT_FUNCTION = "atende_unaccent"
SEARCH_VECTOR_SQL = (
    f"setweight(to_tsvector(config, {UNACCENT_FUNCTION}(question)), 'A') || "
    f"setweight(to_tsvector(config, {UNACCENT_FUNCTION}(answer)), 'B')"
)


class KnowledgeEntry(IdMixin, Base):
    """One knowledge entry of a tenant, indexed for full-text search.

    The rows mirror ``spec.knowledge.entries``: ``apply_tenant`` replaces a tenant's rows, in
    its transaction, whenever the knowledge (or the language) changed; ``version`` is the hash
    of what was indexed. ``config`` is the text-search configuration of the tenant's language;
    ``search_vector`` weighs the question (A) above the answer (B), accents folded."""

    __tablename__ = "knowledge_entries"
    __table_args__ = (
        Index("ix_knowledge_entries_search_vector", "search_vector", postgresql_using="gin"),
    )

    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    config: Mapped[str] = mapped_column(REGCONFIG)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    # sha256 of question, newline, answer: names the entry's vector in knowledge_embeddings.
    content_hash: Mapped[str] = mapped_column(String(64))
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True)
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
