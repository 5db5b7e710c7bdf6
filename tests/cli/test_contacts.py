"""``atende contacts export`` prints a customer's data as JSON and ``atende contacts forget``
erases it, printing what went and leaving the audit chain whole; an unknown tenant or a phone
that cannot be one fails with one ``error:`` line and exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import redis.asyncio as aioredis

from services.core.channels.baileys import NormalizedMessage
from services.core.db import SessionMaker, transaction
from services.core.inbound.service import ingest
from services.core.tenants.queries import tenant_id_of

from .conftest import Cli

PHONE = "5511977776666"
NEIGHBOUR = "5511955554444"


async def _message(sessionmaker: SessionMaker, phone: str, text: str, n: int) -> None:
    async with transaction(sessionmaker) as session:
        tenant_id = await tenant_id_of(session, "acme")
        message = NormalizedMessage(f"3EB0CLI{n:04d}", "text", text, phone, None, "Ana", None)
        payload = {"key": {"id": message.provider_msg_id, "remoteJid": f"{phone}@s.whatsapp.net"}}
        await ingest(
            session,
            tenant_id=tenant_id,
            connection="main",
            message=message,
            payload=payload | {"message": {"conversation": text}},
            correlation_id=f"cli{n:08d}",
        )


async def test_export_then_forget_a_customer_from_the_command_line(
    atende: Cli, clean_db: SessionMaker, applied: Path, redis_client: aioredis.Redis
) -> None:
    await _message(clean_db, PHONE, "meu endereço é Rua das Flores, 12", 1)
    await _message(clean_db, NEIGHBOUR, "outra pessoa", 2)
    await redis_client.set("ctx:1", b'["Rua das Flores"]')

    exported = atende("contacts", "export", "acme", PHONE)
    assert exported.code == 0, exported
    document = json.loads(exported.out)
    assert document["format"] == "atende.contact-export/1"
    [conversation] = document["conversations"]
    assert [m["text"] for m in conversation["messages"]] == ["meu endereço é Rua das Flores, 12"]
    assert "outra pessoa" not in exported.out

    forgot = atende("contacts", "forget", "acme", f"+{PHONE}")
    assert forgot.code == 0, forgot
    lines = forgot.out.splitlines()
    assert lines[0] == f"forgot +{PHONE} at acme: 1 messages, 1 conversations, 1 contacts"
    assert lines[1].startswith("redis: 1 keys, 0 jobs, 0 spooled webhooks")
    assert lines[2].startswith("audit event ")
    assert PHONE not in lines[2]
    assert not await redis_client.exists("ctx:1")

    after = json.loads(atende("contacts", "export", "acme", PHONE).out)
    assert (after["found"], after["contacts"], after["conversations"]) == (False, [], [])
    assert json.loads(atende("contacts", "export", "acme", NEIGHBOUR).out)["found"] is True
    assert atende("audit", "verify").code == 0


def test_an_unknown_tenant_or_a_phone_that_cannot_be_one_fails(atende: Cli, applied: Path) -> None:
    unknown = atende("contacts", "forget", "nope", PHONE)
    assert (unknown.code, unknown.err_lines) == (1, ["error: no tenant 'nope'"])
    bad = atende("contacts", "export", "acme", "12")
    assert bad.code == 1
    assert bad.err_lines == ["error: a phone is 8 to 20 digits, with the country code"]
    assert bad.out == ""
