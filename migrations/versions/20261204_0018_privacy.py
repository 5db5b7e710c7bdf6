"""privacy: indexes for the retention job's scans, and the one way to erase old audit rows

Retention (spec.retention, services/core/privacy/retention.py) scans each tenant's rows by age:
replies, turns and handoffs get a ``(tenant_id, created_at)`` index, and the webhook payloads
and provider responses not erased yet a partial one each, so a scan that finds nothing reads
nothing.

The audit log stays append-only for every role: ``atende_prune_audit`` is the only way a row
leaves it. It runs as the schema owner (SECURITY DEFINER) and erases a prefix of the chain,
oldest first, at most 1000 rows a call, each row past its tenant's ``retention.auditDays``
(730 when unset, never under 180; platform rows 730), counted from ``as_of`` or the
database's own ``now()``, whichever is earlier: a caller can make it erase less, never more.
It stops at the first row still kept, so the kept rows stay one unbroken chain, and it returns
the last erased row's hash, which the caller records in an ``audit.pruned`` row: verification
starts from the oldest kept row when that hash is its predecessor (services/core/audit).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 02:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRUNE = """
CREATE OR REPLACE FUNCTION atende_prune_audit(as_of timestamptz, max_rows integer)
RETURNS TABLE (pruned integer, through_id bigint, through_hash text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    clock timestamptz := LEAST(COALESCE(as_of, now()), now());
    item record;
    days integer;
BEGIN
    pruned := 0;
    PERFORM pg_advisory_xact_lock(1635083380);  -- the append lock (audit/service.py)
    FOR item IN
        SELECT e.id, e.at, e.hash, t.spec -> 'retention' ->> 'auditDays' AS audit_days
        FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id
        ORDER BY e.id LIMIT LEAST(GREATEST(max_rows, 0), 1000)
    LOOP
        days := GREATEST(COALESCE(item.audit_days::integer, 730), 180);
        EXIT WHEN item.at >= clock - make_interval(days => days);
        through_id := item.id;
        through_hash := item.hash;
        pruned := pruned + 1;
    END LOOP;
    IF pruned > 0 THEN
        ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change;
        DELETE FROM audit_events WHERE id <= through_id;
        ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change;
    END IF;
    RETURN NEXT;
END
$$
"""


def upgrade() -> None:
    op.create_index(
        "ix_outbound_messages_tenant_created", "outbound_messages", ["tenant_id", "created_at"]
    )
    op.create_index("ix_turns_tenant_created", "turns", ["tenant_id", "created_at"])
    op.create_index("ix_handoffs_tenant_created", "handoffs", ["tenant_id", "created_at"])
    op.create_index(
        "ix_inbound_messages_raw_payload",
        "inbound_messages",
        ["tenant_id", "received_at"],
        postgresql_where="payload <> '{}'::jsonb",
    )
    op.create_index(
        "ix_outbound_messages_provider_response",
        "outbound_messages",
        ["tenant_id", "created_at"],
        postgresql_where="provider_response IS NOT NULL",
    )
    bind = op.get_bind()
    schema = bind.exec_driver_sql("SELECT current_schema()").scalar_one()
    quoted = bind.dialect.identifier_preparer.quote_identifier(schema)
    bind.exec_driver_sql(PRUNE.replace("{schema}", quoted))


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS atende_prune_audit(timestamptz, integer)")
    op.drop_index("ix_outbound_messages_provider_response", table_name="outbound_messages")
    op.drop_index("ix_inbound_messages_raw_payload", table_name="inbound_messages")
    op.drop_index("ix_handoffs_tenant_created", table_name="handoffs")
    op.drop_index("ix_turns_tenant_created", table_name="turns")
    op.drop_index("ix_outbound_messages_tenant_created", table_name="outbound_messages")
