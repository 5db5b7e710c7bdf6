"""The knowledge index on a real Postgres: stemming and accents in the tenant's language, one
tenant never sees another's entries, a re-apply replaces the index and invalidates the cache."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select

from services.core import knowledge
from services.core.db import SessionMaker, transaction
from services.core.models import KnowledgeEntry as KnowledgeRow
from services.core.models import Tenant
from services.core.tenants.credentials import CredentialCipher
from services.core.tenants.manifest import SecretStore, TenantManifest
from services.core.tenants.service import apply_tenant
from services.core.tenants.spec import BotTenantSpec, KnowledgeEntry

SECRETS = SecretStore({"s": {"hook": "hook-secret-0123456789abcdefgh"}})
CIPHER = CredentialCipher("knowledge-tests-secret-key")
PAYMENT = {"question": "Formas de pagamento aceitas", "answer": "Pix, boleto e cartão."}
HOURS = {"question": "Horário de atendimento", "answer": "Seg a sex, 8h às 18h."}
DELIVERY = {"question": "Prazo de entrega", "answer": "Até 5 dias úteis para todo o Brasil."}


def searched(tenant: BotTenantSpec) -> tuple[str, list[KnowledgeEntry]]:
    """What a turn hands :func:`knowledge.lookup`: the language and the searchable entries."""
    return tenant.persona.language, tenant.searchable_knowledge


def spec(entries: list[dict[str, str]], *, language: str = "pt-BR", **extra: Any) -> BotTenantSpec:
    return BotTenantSpec.model_validate(
        {
            "displayName": "Loja",
            "whaticket": {"connections": [{"name": "main"}]},
            "webhook": {"secretRefs": [{"name": "s", "key": "hook"}]},
            "persona": {"systemPrompt": "Você é a assistente da loja.", "language": language},
            "knowledge": {"entries": entries},
            **extra,
        }
    )


async def apply(sm: SessionMaker, slug: str, tenant_spec: BotTenantSpec) -> int:
    async with transaction(sm) as session:
        await apply_tenant(session, TenantManifest(slug, tenant_spec), SECRETS, CIPHER)
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        assert tenant is not None
        return tenant.id


async def search(sm: SessionMaker, tenant_id: int, text: str, language: str = "pt-BR") -> list[str]:
    async with sm() as session:
        return [s.question for s in await knowledge.search(session, tenant_id, language, text)]


@pytest.mark.parametrize(
    ("language", "config"),
    [
        ("pt-BR", "portuguese"),
        ("pt", "portuguese"),
        ("en-US", "english"),
        ("es", "spanish"),
        ("fr-FR", "simple"),
        ("", "simple"),
    ],
)
def test_language_picks_the_text_search_configuration(language: str, config: str) -> None:
    assert knowledge.text_search_config(language) == config


async def test_portuguese_stemming_and_accents_find_the_entry(clean_db: SessionMaker) -> None:
    tenant_id = await apply(clean_db, "loja", spec([HOURS, PAYMENT, DELIVERY]))

    async with clean_db() as session:
        found = await knowledge.search(
            session, tenant_id, "pt-BR", "Quais são as formas de pagamento?"
        )
        row_id = await session.scalar(
            select(KnowledgeRow.id).where(KnowledgeRow.question == PAYMENT["question"])
        )
    assert [s.question for s in found] == [PAYMENT["question"]]  # nothing unrelated comes back
    assert found[0].rank > 0
    assert found[0].id == row_id
    # Stems (plural, verb forms), no accents typed, accents typed where none are.
    assert await search(clean_db, tenant_id, "pagamentos aceitos?") == [PAYMENT["question"]]
    assert await search(clean_db, tenant_id, "horario") == [HOURS["question"]]
    assert await search(clean_db, tenant_id, "ENTRÉGA em quantos dias uteis") == [
        DELIVERY["question"]
    ]
    assert await search(clean_db, tenant_id, "meu roteador pegou fogo") == []
    assert await search(clean_db, tenant_id, "?!") == []


async def test_the_question_weighs_more_and_the_limit_holds(clean_db: SessionMaker) -> None:
    entries = [
        {"question": "Entrega expressa", "answer": "Em 24 horas nas capitais."},
        {"question": "Troca de produto", "answer": "A troca é grátis após a entrega."},
        *[{"question": f"Entrega na região {n}", "answer": "Consulte."} for n in range(5)],
    ]
    tenant_id = await apply(clean_db, "loja", spec(entries))
    async with clean_db() as session:
        found = await knowledge.search(session, tenant_id, "pt-BR", "entrega", limit=3)
        assert len(found) == 3
        assert all(s.question.startswith("Entrega") for s in found)
        assert [s.rank for s in found] == sorted((s.rank for s in found), reverse=True)
        assert await knowledge.search(session, tenant_id, "pt-BR", "troca") != []


async def test_english_tenant_uses_english_stemming(clean_db: SessionMaker) -> None:
    entries = [{"question": "Accepted payment methods", "answer": "Cards and wire transfers."}]
    tenant_id = await apply(clean_db, "shop", spec(entries, language="en-US"))
    assert await search(clean_db, tenant_id, "How can I pay? Which methods?", "en-US") == [
        entries[0]["question"]
    ]


async def test_another_tenants_entries_never_come_back(clean_db: SessionMaker) -> None:
    loja = await apply(clean_db, "loja", spec([HOURS]))
    outra = await apply(clean_db, "outra", spec([PAYMENT, DELIVERY]))

    assert await search(clean_db, loja, "Quais são as formas de pagamento?") == []
    assert await search(clean_db, loja, "prazo de entrega") == []
    assert await search(clean_db, outra, "Quais são as formas de pagamento?") == [
        PAYMENT["question"]
    ]
    assert await search(clean_db, outra, "horário de atendimento") == []


async def test_reapplying_changed_knowledge_replaces_the_index_and_the_cache(
    clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    first = spec([HOURS, PAYMENT])
    tenant_id = await apply(clean_db, "loja", first)
    question = "Quais são as formas de pagamento?"
    found = await knowledge.lookup(clean_db, redis_client, tenant_id, *searched(first), question)
    assert [s.answer for s in found] == [PAYMENT["answer"]]
    old_key = knowledge.cache_key(
        tenant_id, knowledge.knowledge_version("pt-BR", first.knowledge.entries), question
    )
    assert await redis_client.ttl(old_key) > 0  # cached, with a TTL
    # The same question, worded differently, is the same cache entry.
    assert knowledge.cache_key(tenant_id, "v", "quais são AS formas de pagamento") == (
        knowledge.cache_key(tenant_id, "v", question)
    )

    # Re-applying the same spec keeps the rows (same ids).
    async with clean_db() as session:
        ids_before = list(await session.scalars(select(KnowledgeRow.id).order_by(KnowledgeRow.id)))
    await apply(clean_db, "loja", first)
    async with clean_db() as session:
        ids_after = list(await session.scalars(select(KnowledgeRow.id).order_by(KnowledgeRow.id)))
    assert ids_after == ids_before

    new_payment = {"question": "Formas de pagamento aceitas", "answer": "Somente Pix."}
    second = spec([new_payment, DELIVERY])
    await apply(clean_db, "loja", second)

    async with clean_db() as session:
        rows = list(await session.scalars(select(KnowledgeRow).order_by(KnowledgeRow.position)))
    assert [(r.question, r.answer) for r in rows] == [
        (new_payment["question"], new_payment["answer"]),
        (DELIVERY["question"], DELIVERY["answer"]),
    ]
    assert not set(ids_before) & {r.id for r in rows}
    assert await search(clean_db, tenant_id, "horário de atendimento") == []

    # The cached answer of the old knowledge is never served: the version is in the key.
    found = await knowledge.lookup(clean_db, redis_client, tenant_id, *searched(second), question)
    assert [s.answer for s in found] == ["Somente Pix."]

    # Emptying the knowledge empties the index.
    await apply(clean_db, "loja", spec([]))
    async with clean_db() as session:
        assert await session.scalar(select(func.count()).select_from(KnowledgeRow)) == 0


async def test_a_change_of_language_reindexes(clean_db: SessionMaker) -> None:
    tenant_id = await apply(clean_db, "loja", spec([PAYMENT]))
    await apply(clean_db, "loja", spec([PAYMENT], language="es"))
    async with clean_db() as session:
        configs = set(await session.scalars(select(KnowledgeRow.config)))
    assert configs == {"spanish"}
    assert await search(clean_db, tenant_id, "formas de pagamento", "es") == [PAYMENT["question"]]


async def test_lookup_is_empty_when_the_knowledge_feature_is_off(
    clean_db: SessionMaker, redis_client: aioredis.Redis
) -> None:
    off = spec([PAYMENT], features={"knowledge": False})
    tenant_id = await apply(clean_db, "loja", off)
    assert (
        await knowledge.lookup(clean_db, redis_client, tenant_id, *searched(off), "pagamento") == []
    )
