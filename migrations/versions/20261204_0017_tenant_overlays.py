"""tenant overlays: the parts of a tenant's bot its own admins edit in the panel

One row per tenant and delegated field (``spec.delegation.panelOwns``: knowledge, messages,
businessHours) with its value in the spec's own shape, the version the panel's edits count
(a stale form is refused as a conflict), who edited it last and when. New table only.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_overlays",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_tenant_overlays_tenant_id_tenants"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_overlays"),
        sa.UniqueConstraint("tenant_id", "field", name="uq_tenant_overlays_tenant_id_field"),
    )


def downgrade() -> None:
    op.drop_table("tenant_overlays")
