"""Knowledge per tenant: index, search, and a cache of answers.

* :func:`sync` mirrors a tenant's question/answer pairs (``spec.knowledge.entries``) into
  ``knowledge_entries`` (called by ``apply_tenant``, in its transaction): the tenant's rows are
  replaced when the knowledge or the language changed, and left alone otherwise.
* :func:`search` ranks the tenant's entries against a text with Postgres full-text search in the
  tenant's language (stemming; accents folded by ``unaccent``); the question words are ORed, so
  a natural question ("Quais são as formas de pagamento?") finds "Formas de pagamento aceitas".
* :func:`lookup` is what a turn calls: :func:`search` behind a Redis cache keyed by tenant,
  knowledge version and normalized question, so a knowledge change is never served stale.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Text, cast, delete, func, literal, select
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.db import SessionMaker
from services.core.logging import get_logger
from services.core.models import KnowledgeEntry as KnowledgeRow
from services.core.models.knowledge_entry import UNACCENT_FUNCTION

log = get_logger(__name__)

CACHE_TTL_SECONDS = 600
DEFAULT_LIMIT = 3
# Question words and fillers that would match nearly every entry ("Qual o horário?" and "Quais
# as formas de pagamento?" share "qual"); Postgres's stop lists miss them once accents are gone.
_FILLERS = frozenset(
    "a o os as um uma uns umas de do da dos das e em no na nos nas ao aos para por pra pro com "
    "que qual quais quanto quanta quantos quantas como quando onde quem se eu voce voces vcs "
    "meu minha meus minhas seu sua seus suas sao ser esta estao tem ter ha posso pode podem "
    "vou sobre oi ola bom boa dia tarde noite obrigado obrigada por favor "
    "the is are of to and what how which when where who do does can i you your my a an "
    "el la los las un una es y del al que cual cuales como cuando donde".split()
)
_CONFIGS = {"pt": "portuguese", "en": "english", "es": "spanish"}


class QuestionAnswer(Protocol):
    """One entry as knowledge needs it: the spec's entries and the found snippets both are one,
    so this domain never depends on the tenant spec."""

    @property
    def question(self) -> str: ...

    @property
    def answer(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Snippet:
    """One knowledge entry found for a text: its row id, the entry, and its rank."""

    id: int
    question: str
    answer: str
    rank: float


def text_search_config(language: str) -> str:
    """The Postgres text-search configuration of a BCP 47 tag: pt*, en*, es*, else simple."""
    return _CONFIGS.get(language.strip().lower()[:2], "simple")


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in folded if not unicodedata.combining(c))


def normalize_question(text: str) -> str:
    """Lower case, accents folded, punctuation and fillers gone, words in order, once each."""
    words = [w for w in re.findall(r"[a-z0-9]+", _fold(text)) if w not in _FILLERS]
    return " ".join(dict.fromkeys(words))


def knowledge_version(language: str, entries: Sequence[QuestionAnswer]) -> str:
    """A hash of what is indexed: the search configuration and the entries, in order."""
    material = json.dumps(
        [text_search_config(language), [[e.question, e.answer] for e in entries]],
        ensure_ascii=False,
    )
    return hashlib.sha256(material.encode()).hexdigest()


async def sync(
    session: AsyncSession, tenant_id: int, language: str, entries: Sequence[QuestionAnswer]
) -> bool:
    """Make the tenant's rows mirror ``entries``; True when they were replaced."""
    version = knowledge_version(language, entries)
    stored = set(
        await session.scalars(
            select(KnowledgeRow.version).where(KnowledgeRow.tenant_id == tenant_id).distinct()
        )
    )
    if stored == ({version} if entries else set()):
        return False
    await session.execute(delete(KnowledgeRow).where(KnowledgeRow.tenant_id == tenant_id))
    config = text_search_config(language)
    session.add_all(
        KnowledgeRow(
            tenant_id=tenant_id,
            position=i,
            version=version,
            config=config,
            question=e.question,
            answer=e.answer,
        )
        for i, e in enumerate(entries)
    )
    await session.flush()
    log.info("knowledge.synced", tenant_id=tenant_id, entries=len(entries), version=version[:12])
    return True


async def search(
    session: AsyncSession, tenant_id: int, language: str, text: str, limit: int = DEFAULT_LIMIT
) -> list[Snippet]:
    """The tenant's best entries for ``text``, best first (ts_rank), at most ``limit``.

    The meaningful words are ORed (``plainto_tsquery`` stems them; ``&`` becomes ``|``): an
    entry needs one of them, and ranks higher the more it has, in its question more than in
    its answer. Only this tenant's rows are ever read."""
    words = normalize_question(text)
    if not words or limit <= 0:
        return []
    config = cast(literal(text_search_config(language)), REGCONFIG)
    anded = cast(func.plainto_tsquery(config, getattr(func, UNACCENT_FUNCTION)(words)), Text)
    query = cast(func.replace(anded, " & ", " | "), TSQUERY)
    rank = func.ts_rank(KnowledgeRow.search_vector, query).label("rank")
    rows = await session.execute(
        select(KnowledgeRow.id, KnowledgeRow.question, KnowledgeRow.answer, rank)
        .where(KnowledgeRow.tenant_id == tenant_id, KnowledgeRow.search_vector.op("@@")(query))
        .order_by(rank.desc(), KnowledgeRow.position)
        .limit(limit)
    )
    return [Snippet(r.id, r.question, r.answer, float(r.rank)) for r in rows]


def cache_key(tenant_id: int, version: str, question: str, limit: int = DEFAULT_LIMIT) -> str:
    digest = hashlib.sha256(normalize_question(question).encode()).hexdigest()[:32]
    return f"atende:knowledge:{tenant_id}:{version[:16]}:{limit}:{digest}"


async def lookup(
    sessionmaker: SessionMaker,
    redis: Redis,
    tenant_id: int,
    language: str,
    entries: Sequence[QuestionAnswer],
    text: str,
    limit: int = DEFAULT_LIMIT,
) -> list[Snippet]:
    """The snippets a turn answers ``text`` from the tenant's ``entries`` in ``language``: []
    when there are none (the caller passes none while the tenant's knowledge is off).

    Cached in Redis for :data:`CACHE_TTL_SECONDS` under the knowledge version, so a change of
    knowledge invalidates every cached answer at once; Redis trouble only costs a search."""
    if not entries or not normalize_question(text):
        return []
    key = cache_key(tenant_id, knowledge_version(language, entries), text, limit)
    try:
        cached = await redis.get(key)
    except (RedisError, OSError) as exc:
        log.warning("knowledge.cache_unavailable", error=type(exc).__name__)
        cached = None
    if cached is not None:
        try:
            return [Snippet(**item) for item in json.loads(cached)]
        except (ValueError, TypeError):
            pass
    async with sessionmaker() as session:
        found = await search(session, tenant_id, language, text, limit)
    try:
        await redis.set(key, json.dumps([asdict(s) for s in found]), ex=CACHE_TTL_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("knowledge.cache_unavailable", error=type(exc).__name__)
    return found
