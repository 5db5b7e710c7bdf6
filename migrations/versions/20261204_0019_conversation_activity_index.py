"""conversations: the panel's list, newest activity first, one tenant at a time

The conversations page pages by keyset on ``(coalesce(last_inbound_at, created_at), id)``,
newest first, within the reader's tenants (services/core/conversations/search.py): this index
reads a page without sorting the tenant's conversations. Expand-only.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_tenant_activity",
        "conversations",
        [
            "tenant_id",
            sa.text("coalesce(last_inbound_at, created_at) DESC"),
            sa.text("id DESC"),
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_tenant_activity", table_name="conversations")
