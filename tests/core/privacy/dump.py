"""Everything Postgres and Redis hold, as text: what a data-subject erasure is checked against.

Every table of the schema, every column, text-cast (raw payloads, summaries, event bodies
included); every Redis key with its value (strings, lists, sets, sorted sets with their
members, hashes), arq's msgpack job payloads decoded beside their raw bytes."""

from __future__ import annotations

import msgpack
import redis.asyncio as aioredis
from sqlalchemy import text

from services.core.db import SessionMaker


async def dump_postgres(sessionmaker: SessionMaker) -> dict[str, list[str]]:
    async with sessionmaker() as session:
        tables = list(
            await session.scalars(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "ORDER BY tablename"
                )
            )
        )
        return {
            table: list(
                await session.scalars(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))
            )
            for table in tables
        }


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _decoded(value: bytes) -> str:
    try:
        return repr(msgpack.unpackb(value, raw=False, timestamp=3))
    except Exception:  # not msgpack: the raw text is enough
        return ""


async def dump_redis(client: aioredis.Redis) -> dict[str, str]:
    found: dict[str, str] = {}
    async for raw_key in client.scan_iter(count=1000):
        key = _text(raw_key)
        kind = _text(await client.type(raw_key))
        if kind == "string":
            value = await client.get(raw_key)
            parts = [_text(value), _decoded(value)] if value is not None else []
        elif kind == "list":
            parts = [_text(v) for v in await client.lrange(raw_key, 0, -1)]  # type: ignore[misc]
        elif kind == "set":
            parts = [_text(v) for v in await client.smembers(raw_key)]  # type: ignore[misc]
        elif kind == "zset":
            parts = [
                f"{_text(m)}={s}" for m, s in await client.zrange(raw_key, 0, -1, withscores=True)
            ]
        elif kind == "hash":
            items = await client.hgetall(raw_key)  # type: ignore[misc]
            parts = [f"{_text(k)}={_text(v)}" for k, v in items.items()]
        else:
            parts = [kind]
        found[key] = "\n".join(parts)
    return found


def everything(postgres: dict[str, list[str]], redis: dict[str, str]) -> str:
    rows = [f"{table}: {row}" for table, table_rows in postgres.items() for row in table_rows]
    keys = [f"{key} => {value}" for key, value in redis.items()]
    return "\n".join(rows + keys)
