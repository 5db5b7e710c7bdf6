"""Stored errors keep no remote answer: dead letters and turns written before the egress client
could hold up to 200 characters of what a tenant's server replied, and event deliveries the
transport error's class (which tells what listens on an address). They now keep only the
fixed error class, as new rows do. Data only; what was scrubbed is not brought back.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 17:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE dead_letters SET error = error_class WHERE error IS DISTINCT FROM error_class"
    )
    op.execute(
        "UPDATE dead_letters"
        " SET context = jsonb_set(context, '{last_error}', to_jsonb(error_class))"
        " WHERE context ? 'last_error' AND context->'last_error' <> 'null'::jsonb"
    )
    op.execute("UPDATE turns SET last_error = error_class WHERE last_error IS NOT NULL")
    op.execute(
        "UPDATE event_deliveries SET last_error = CASE"
        " WHEN last_error IN ('egress_refused', 'unreachable', 'http_error') THEN last_error"
        " WHEN last_status IS NOT NULL THEN 'http_error' ELSE 'unreachable' END"
        " WHERE last_error IS NOT NULL"
    )


def downgrade() -> None:
    """Nothing to undo: the schema is unchanged, and the scrubbed text is gone on purpose."""
