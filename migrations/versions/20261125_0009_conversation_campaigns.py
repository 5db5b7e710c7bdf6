"""Conversation campaigns: the campaign a customer last arrived through (a click-to-WhatsApp ad
or a wa.me link's prefilled text, as the tenant's spec.campaigns declares them), for metrics
by campaign. Expand-only: nullable columns, nothing to backfill.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("campaign", sa.String(length=63), nullable=True))
    op.add_column(
        "conversations", sa.Column("campaign_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("conversations", "campaign_at")
    op.drop_column("conversations", "campaign")
