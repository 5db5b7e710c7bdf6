"""Cloud API delivery statuses: the id Meta gives a sent message (wamid) and the last status
its webhooks reported for it (sent, delivered, read, failed). Expand-only.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 07:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "outbound_messages",
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
    )
    op.add_column(
        "outbound_messages", sa.Column("delivery_status", sa.String(length=16), nullable=True)
    )
    op.create_index(
        op.f("ix_outbound_messages_provider_message_id"),
        "outbound_messages",
        ["provider_message_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbound_messages_provider_message_id"), table_name="outbound_messages")
    op.drop_column("outbound_messages", "delivery_status")
    op.drop_column("outbound_messages", "provider_message_id")
