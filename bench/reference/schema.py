"""The reference stack's three tables, in a database of its own."""

from __future__ import annotations

import psycopg

_TABLES = """
CREATE TABLE IF NOT EXISTS ref_tenants (
    id serial PRIMARY KEY, slug text UNIQUE NOT NULL, webhook_secret text NOT NULL);
CREATE TABLE IF NOT EXISTS ref_contacts (
    id bigserial PRIMARY KEY, tenant_id int NOT NULL, phone text NOT NULL, name text,
    UNIQUE (tenant_id, phone));
CREATE TABLE IF NOT EXISTS ref_messages (
    id bigserial PRIMARY KEY, tenant_id int NOT NULL, contact_id bigint NOT NULL,
    provider_msg_id text NOT NULL, text text NOT NULL, payload jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(), UNIQUE (tenant_id, provider_msg_id));
CREATE TABLE IF NOT EXISTS ref_replies (
    id bigserial PRIMARY KEY, message_id bigint UNIQUE NOT NULL, text text NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now());
"""


def create_schema(dsn: str, tenant: str, secret: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(_TABLES)
        connection.execute(
            "INSERT INTO ref_tenants (slug, webhook_secret) VALUES (%s, %s)"
            " ON CONFLICT (slug) DO UPDATE SET webhook_secret = excluded.webhook_secret",
            (tenant, secret),
        )


def count_replies(dsn: str) -> int:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT count(*) FROM ref_replies").fetchone()
    return int(row[0]) if row else 0
