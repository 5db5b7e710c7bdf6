"""A panel user's language: ``pt_BR`` or ``en`` when they chose one in their profile, NULL
while they have not (the panel then follows the browser's Accept-Language, pt-BR by default).
Expand-only.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "locale")
