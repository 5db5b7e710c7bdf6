"""Three customers with everything Atende keeps of a customer: two of acme, one of another
tenant, each with answered turns, a dead letter (a reply that could not be delivered), a queued
message, a handoff (its summary and transfer job), workflow events in the outbox, a context in
Redis and a webhook waiting in the spool."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.core import jobs
from services.core.inbound.spool import Spool, SpooledWebhook
from services.core.tenants.directory import TenantConfig
from tests.fixtures.turns import Harness

EVENTS_SECRET = "whsec_bjhuLXNpZ25pbmcta2V5LTAxMjM0NTY3ODlhYmNkZWY="


@dataclass(frozen=True)
class Customer:
    tenant: str
    phone: str
    words: tuple[str, ...]  # what only this customer wrote


FORGOTTEN = Customer(
    "acme", "5511911110001", ("Meu CPF é 123.456.789-00", "TEXTOAPAGAR quero atendente")
)
NEIGHBOUR = Customer(
    "acme", "5511922220002", ("Minha fatura de PALAVRAVIZINHA", "quero atendente PALAVRAVIZINHA2")
)
ELSEWHERE = Customer(
    "other", "5511911110001", ("OUTROTENANTE pergunta", "quero atendente OUTROTENANTE2")
)


async def apply_tenants(harness: Harness) -> dict[str, TenantConfig]:
    subscription = {
        "name": "n8n",
        "url": "http://127.0.0.1:9/webhook/atende",
        "events": ["turn.answered", "handoff.requested"],
        "secretRef": {"name": "acme", "key": "n8n-signing"},
    }
    applied = {}
    for slug in ("other", "acme"):  # acme last: the harness ingests for it by default
        applied[slug] = await harness.apply_tenant(
            slug=slug,
            extra_secrets={"n8n-signing": EVENTS_SECRET},
            events={"subscriptions": [subscription]},
            handoff={"keywords": ["atendente"]},
            agent_password="bot-password",
            handoff_queue_id=3,
        )
    return applied


def spooled(customer: Customer, n: int) -> SpooledWebhook:
    payload = {
        "key": {"id": f"3EB0SPOOL{n:04d}", "remoteJid": f"{customer.phone}@s.whatsapp.net"},
        "message": {"conversation": f"{customer.words[0]} (spooled)"},
    }
    return SpooledWebhook(customer.tenant, "main", payload, f"spool{n:08d}")


async def populate(harness: Harness, tenants: dict[str, TenantConfig], spool_dir: Path) -> None:
    spool = Spool(harness.redis, spool_dir)
    for n, customer in enumerate((FORGOTTEN, NEIGHBOUR, ELSEWHERE)):
        harness.tenant = tenants[customer.tenant]
        first = await harness.ingest(customer.words[0], phone=customer.phone)
        await harness.run(first)  # answered: a reply, a turn, turn.answered, context in Redis
        harness.whaticket.set_mode(session_down=True)
        lost = await harness.ingest(f"{customer.words[0]} undelivered", phone=customer.phone)
        await harness.run(lost)  # its reply cannot be delivered: a dead letter holds the words
        harness.whaticket.set_mode(session_down=False)
        second = await harness.ingest(customer.words[1], phone=customer.phone)
        await harness.run(second)  # the keyword: a handoff, its summary and its transfer job
        queued = await harness.ingest(f"{customer.words[0]} again", phone=customer.phone)
        assert await jobs.enqueue_inbound(harness.deps.redis, queued, defer_seconds=600)
        await spool.append(spooled(customer, n))
