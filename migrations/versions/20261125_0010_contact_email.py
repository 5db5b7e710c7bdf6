"""Contact e-mail: the address a tenant's workflow gives for a customer, where a reply goes by
e-mail when WhatsApp cannot deliver it (fallback channels). Expand-only.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    op.drop_column("contacts", "email")
