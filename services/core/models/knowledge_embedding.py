from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    cast,
    func,
)
from sqlalchemy.dialects.postgresql.base import ischema_names
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from .base import Base

# The output sizes with an approximate (HNSW) index: Gemini's recommended 768 and 1536 (pgvector
# indexes ``vector`` up to 2000 dimensions). Any other size is scanned exactly, per tenant.
INDEXED_DIMENSIONS = (768, 1536)


class Vector(UserDefinedType[list[float]]):
    """pgvector's ``vector`` (of ``dimensions``, or any size), sent as text (``[0.1,0.2]``) and
    cast in SQL, so the driver needs no codec of its own."""

    cache_ok = True

    def __init__(self, dimensions: int | None = None) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **kw: Any) -> str:
        return "vector" if self.dimensions is None else f"vector({int(self.dimensions)})"

    def bind_expression(self, bindvalue: Any) -> Any:
        return cast(cast(bindvalue, Text), self)

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: list[float] | None) -> str | None:
            return None if value is None else "[" + ",".join(repr(float(x)) for x in value) + "]"

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        def process(value: str | None) -> list[float] | None:
            if value is None:
                return None
            return [float(x) for x in value.strip("[]").split(",") if x]

        return process


# So reflection (the migration tests, autogenerate) knows the column's type.
ischema_names["vector"] = Vector


class KnowledgeEmbedding(Base):
    """The embedding of one knowledge text of a tenant, by model, output size and view.

    Keyed by the text's ``content_hash`` (``knowledge_entries.content_hash``), not by entry row:
    the entry rows are replaced whenever the knowledge changes, but an unchanged text keeps its
    vector, so only changed entries are embedded again. Vectors whose text left the tenant's
    knowledge are pruned by the embedding job (services/core/knowledge/embeddings.py)."""

    __tablename__ = "knowledge_embeddings"
    tenant_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tenants.id"), primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    dimensions: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "question" (the question alone) or "entry" (question and answer): see knowledge/embeddings.py.
    view: Mapped[str] = mapped_column(String(16), primary_key=True)
    embedding: Mapped[list[float]] = mapped_column(Vector())
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


# Partial HNSW indexes (cosine), one per indexed size, on ``embedding::vector(size)``: the
# expression retrieval orders by (services/core/knowledge/retrieval.py).
for _size in INDEXED_DIMENSIONS:
    Index(
        f"ix_knowledge_embeddings_hnsw_{_size}",
        cast(KnowledgeEmbedding.embedding, Vector(_size)).label(f"embedding_{_size}"),
        postgresql_using="hnsw",
        postgresql_ops={f"embedding_{_size}": "vector_cosine_ops"},
        postgresql_where=KnowledgeEmbedding.dimensions == _size,
    )
