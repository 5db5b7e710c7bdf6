"""Full-text search of a tenant's entries: Postgres text search in the tenant's language
(stemming; accents folded by ``unaccent``), the question words ORed, so a natural question
("Quais são as formas de pagamento?") finds "Formas de pagamento aceitas"."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Text, cast, func, literal, select
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.models import KnowledgeEntry as KnowledgeRow
from services.core.models.knowledge_entry import UNACCENT_FUNCTION

# Entries in one turn's prompt, unless the tenant says otherwise (spec.knowledge).
DEFAULT_LIMIT = 5
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
    """One knowledge entry found for a text: its row id, the entry, and its rank; ``words``:
    full-text search matched it (it shares a word's stem with the text)."""

    id: int
    question: str
    answer: str
    rank: float
    words: bool = False


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
    return [Snippet(r.id, r.question, r.answer, float(r.rank), True) for r in rows]
