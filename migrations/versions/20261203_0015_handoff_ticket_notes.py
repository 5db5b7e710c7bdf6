"""The handoff's note for the agent: the summary packet as text (abstractive by Gemini or
extractive), where it went (``posted`` into the Whaticket ticket as internal notes,
``panel_only`` where the variant has no private place for it, ``failed``), why, how many tries
and when, and the lease of the job at work on it. Expand-only: rows of earlier handoffs keep
NULL (no note job ran for them).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("note_text", sa.Text(), nullable=True))
    op.add_column("handoffs", sa.Column("note_source", sa.String(length=16), nullable=True))
    op.add_column("handoffs", sa.Column("note_status", sa.String(length=16), nullable=True))
    op.add_column("handoffs", sa.Column("note_detail", sa.Text(), nullable=True))
    op.add_column(
        "handoffs",
        sa.Column("note_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column(
        "handoffs", sa.Column("note_posted_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "handoffs", sa.Column("note_claimed_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    for column in (
        "note_claimed_at",
        "note_posted_at",
        "note_attempts",
        "note_detail",
        "note_status",
        "note_source",
        "note_text",
    ):
        op.drop_column("handoffs", column)
