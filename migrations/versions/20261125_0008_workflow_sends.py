"""Workflow sends: a message a tenant's workflow asks for through the action API is an outbound
message without a turn, made idempotent by the caller's request key; its last error is kept for
the caller who asks how it went.

Expand-only: existing rows keep their turn. The downgrade drops the workflow messages (they have
no turn, which the older schema requires).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 06:19:16.978473
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbound_messages", sa.Column("request_key", sa.String(length=128), nullable=True)
    )
    op.add_column(
        "outbound_messages", sa.Column("last_error", sa.String(length=200), nullable=True)
    )
    op.alter_column("outbound_messages", "turn_id", existing_type=sa.BIGINT(), nullable=True)
    op.create_unique_constraint(
        op.f("uq_outbound_messages_tenant_id_request_key"),
        "outbound_messages",
        ["tenant_id", "request_key"],
    )


def downgrade() -> None:
    op.execute("DELETE FROM outbound_messages WHERE turn_id IS NULL")
    op.drop_constraint(
        op.f("uq_outbound_messages_tenant_id_request_key"), "outbound_messages", type_="unique"
    )
    op.alter_column("outbound_messages", "turn_id", existing_type=sa.BIGINT(), nullable=False)
    op.drop_column("outbound_messages", "last_error")
    op.drop_column("outbound_messages", "request_key")
