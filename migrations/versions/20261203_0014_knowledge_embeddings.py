"""knowledge embeddings (pgvector)

Every knowledge entry gets a ``content_hash`` (sha256 of question, newline, answer), and the new
``knowledge_embeddings`` table keeps one vector per tenant, text hash, model, output size and
view (the question alone, or the whole entry),
with partial HNSW indexes (cosine) for 768 and 1536 dimensions. It needs the ``vector``
extension (pgvector): created here, by the schema owner. Where pgvector is not installed, or the
owner may not create it (it is not a trusted extension: a superuser must), the upgrade stops with
what to do, before changing anything.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED_DIMENSIONS = (768, 1536)
MISSING = (
    "The Postgres extension 'vector' (pgvector) is not installed on this server, and knowledge "
    "retrieval needs it. Install pgvector (https://github.com/pgvector/pgvector#installation; "
    "managed services such as RDS, Cloud SQL, Azure and Supabase offer it: enable it in the "
    "instance's extension list), then run `atende migrate` again."
)
NOT_ALLOWED = (
    "The extension 'vector' (pgvector) is available but this role may not create it: run "
    "`CREATE EXTENSION IF NOT EXISTS vector;` once in this database as a superuser (or a role "
    "the service allows to create extensions), then run `atende migrate` again."
)


class _Vector(sa.types.UserDefinedType[list[float]]):
    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "vector"


def _create_vector_extension() -> None:
    bind = op.get_bind()
    if bind.scalar(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")):
        return
    if not bind.scalar(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")):
        raise RuntimeError(MISSING)
    try:
        with bind.begin_nested():  # a refusal rolls back to here, not the whole upgrade
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
    except sa.exc.DBAPIError as exc:
        if "permission denied" not in str(exc.orig).lower():
            raise
        raise RuntimeError(NOT_ALLOWED) from None


def upgrade() -> None:
    _create_vector_extension()
    op.add_column("knowledge_entries", sa.Column("content_hash", sa.String(64), nullable=True))
    op.execute(
        "UPDATE knowledge_entries SET content_hash = "
        "encode(sha256(convert_to(question || E'\\n' || answer, 'UTF8')), 'hex')"
    )
    op.alter_column("knowledge_entries", "content_hash", nullable=False)
    op.create_table(
        "knowledge_embeddings",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(length=16), nullable=False),
        sa.Column("embedding", _Vector(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_knowledge_embeddings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "content_hash",
            "model",
            "dimensions",
            "view",
            name=op.f("pk_knowledge_embeddings"),
        ),
    )
    for dimensions in INDEXED_DIMENSIONS:
        op.execute(
            f"CREATE INDEX ix_knowledge_embeddings_hnsw_{dimensions} ON knowledge_embeddings"
            f" USING hnsw ((embedding::vector({dimensions})) vector_cosine_ops)"
            f" WHERE dimensions = {dimensions}"
        )


def downgrade() -> None:
    op.drop_table("knowledge_embeddings")
    op.drop_column("knowledge_entries", "content_hash")
    # The extension stays: it may have been there before, and other databases' code may use it.
