"""How cost grows: ingest and drain with traffic spread over 1, 10 and 100 tenants, and with
10³ and 10⁵ conversations already stored; and what Postgres stores per message."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.drain import bench_drain, forget_messages
from bench.harness import SECRET, process, wait_http, wrk
from services.cli.embedded import free_port
from services.core.config import Settings
from services.core.db import create_engine, create_sessionmaker, transaction
from tests.standins.whaticket import WhaticketStandIn

TENANT_COUNTS = (1, 10, 100)
STORED_CONVERSATIONS = (1_000, 100_000)
INGEST_SECONDS = 5
DRAIN_TURNS = 300
CONNECTIONS = 32

# One answered exchange per stored conversation, its rows shaped like the pipeline's own: the
# customer's Baileys payload, the turn with its tokens and knowledge ids, the reply.
_HISTORY = [
    """INSERT INTO contacts (tenant_id, phone, name)
       SELECT :tenant, (5561000000000 + g)::text, 'Cliente ' || g FROM generate_series(1, :n) g""",
    """INSERT INTO conversations (tenant_id, contact_id, connection, state, last_inbound_at)
       SELECT :tenant, id, 'main', 'bot', now() FROM contacts
       WHERE tenant_id = :tenant AND phone LIKE '5561%'""",
    """INSERT INTO turns (tenant_id, conversation_id, status, attempts, correlation_id, model,
                          prompt_tokens, output_tokens, answered_at, knowledge_ids)
       SELECT :tenant, c.id, 'answered', 1, md5(c.id::text), 'gemini-2.5-flash', 812, 64, now(),
              '["entrega-prazo"]'::jsonb
       FROM conversations c JOIN contacts k ON k.id = c.contact_id
       WHERE c.tenant_id = :tenant AND k.phone LIKE '5561%'""",
    """INSERT INTO inbound_messages (tenant_id, conversation_id, provider_msg_id, kind, text,
                                     payload, turn_id, correlation_id)
       SELECT :tenant, t.conversation_id, 'H' || upper(md5(t.id::text)), 'text',
              'Oi, qual o prazo de entrega para o meu CEP?',
              jsonb_build_object(
                'key', jsonb_build_object('remoteJid', k.phone || '@s.whatsapp.net',
                                          'fromMe', false, 'id', 'H' || upper(md5(t.id::text))),
                'pushName', k.name, 'messageTimestamp', 1764000000,
                'message', jsonb_build_object('conversation',
                                              'Oi, qual o prazo de entrega para o meu CEP?')),
              t.id, t.correlation_id
       FROM turns t JOIN conversations c ON c.id = t.conversation_id
       JOIN contacts k ON k.id = c.contact_id
       WHERE t.tenant_id = :tenant AND k.phone LIKE '5561%'""",
    """INSERT INTO outbound_messages (turn_id, tenant_id, conversation_id, kind, channel, text,
                                      status, attempts, provider_response, sent_at)
       SELECT t.id, :tenant, t.conversation_id, 'reply', 'whaticket',
              'O prazo de entrega é de 3 a 5 dias úteis para capitais e de 5 a 8 para o interior.',
              'sent', 1, '{"mensagem": "Mensagem enviada"}'::jsonb, now()
       FROM turns t JOIN conversations c ON c.id = t.conversation_id
       JOIN contacts k ON k.id = c.contact_id
       WHERE t.tenant_id = :tenant AND k.phone LIKE '5561%'""",
]
_SIZES = """
SELECT relname, pg_total_relation_size(oid) FROM pg_class
WHERE relname IN ('contacts', 'conversations', 'inbound_messages', 'turns', 'outbound_messages')
"""


async def _store_history(settings: Settings, count: int) -> dict[str, int]:
    """``count`` stored conversations for the drain tenant; the tables' sizes afterwards."""
    engine = create_engine(settings.database_url, pool_size=1)
    async with transaction(create_sessionmaker(engine)) as session:
        tenant = await session.scalar(text("SELECT id FROM tenants WHERE slug = 'drain'"))
        for statement in _HISTORY:
            await session.execute(text(statement), {"tenant": tenant, "n": count})
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
        sizes: dict[str, int] = dict((await connection.execute(text(_SIZES))).tuples().all())
    await engine.dispose()
    return {name: int(size) for name, size in sizes.items()}


def _ingest(env: dict[str, str], tmp: Path, tag: str, path: str, tenants: int) -> dict[str, float]:
    port = free_port()
    atende = [sys.executable, "-m", "services.cli"]
    with process([*atende, "api", "--port", str(port)], env, tmp / f"growth-api-{tag}.log"):
        wait_http(f"http://127.0.0.1:{port}/readyz")
        url = f"http://127.0.0.1:{port}{path}"
        wrk(url, 2, 16, tenants=tenants)  # warm-up
        return wrk(url, INGEST_SECONDS, CONNECTIONS, tenants=tenants)


def bench_tenants(
    env: dict[str, str], settings: Settings, whaticket: WhaticketStandIn, tmp: Path
) -> list[dict[str, Any]]:
    rows = []
    for count in TENANT_COUNTS:
        names = tuple(f"bench{i}" for i in range(count))
        asyncio.run(forget_messages(settings))
        ingest = _ingest(env, tmp, f"t{count}", "/", count)
        drain = bench_drain(env, settings, whaticket, tmp, 0.0, DRAIN_TURNS, tenants=names)
        rows.append({"tenants": count, "ingest": ingest, "drain": drain})
    return rows


def bench_stored(
    env: dict[str, str], settings: Settings, whaticket: WhaticketStandIn, tmp: Path
) -> list[dict[str, Any]]:
    rows = []
    for count in STORED_CONVERSATIONS:
        asyncio.run(forget_messages(settings))
        sizes = asyncio.run(_store_history(settings, count))
        drain = bench_drain(
            env, settings, whaticket, tmp, 0.0, DRAIN_TURNS, tenants=("drain",), fresh=False
        )
        ingest = _ingest(env, tmp, f"c{count}", f"/hooks/whaticket/bench/main/{SECRET}", 0)
        message_tables = sizes["inbound_messages"] + sizes["turns"] + sizes["outbound_messages"]
        rows.append(
            {
                "stored_conversations": count,
                "ingest": ingest,
                "drain": drain,
                "table_bytes": sizes,
                "postgres_bytes_per_message": round(message_tables / count),
                "postgres_bytes_per_conversation": round(
                    (sizes["contacts"] + sizes["conversations"]) / count
                ),
            }
        )
    return rows
