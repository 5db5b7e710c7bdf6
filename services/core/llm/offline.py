"""An answer without a language model: the best matching knowledge entry of the tenant.

It lets `atende dev` run with no Gemini key, and gives the turn pipeline something honest to say
from the tenant's own knowledge when no model is configured. With no matching entry it says
``no_match``: the tenant's ``spec.messages.noAnswer``, rendered by the caller.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from services.core.errors import PermanentError
from services.core.guard.delimit import unwrap
from services.core.knowledge import QuestionAnswer

from .types import LlmReply, LlmRequest, MediaRequest

_STOPWORDS = frozenset(
    "a o os as um uma de do da dos das e é em no na nos nas para por com que qual quais "
    "como quando onde se eu você voce vocês meu minha seu sua the is are of to and what how".split()
)


def _words(text: str) -> set[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return {w for w in re.findall(r"[a-z0-9]+", folded) if w not in _STOPWORDS and len(w) > 1}


def best_entry(question: str, entries: Sequence[QuestionAnswer]) -> QuestionAnswer | None:
    asked = _words(question)
    if not asked:
        return None
    scored = []
    for entry in entries:
        words = _words(entry.question) | _words(entry.answer)
        overlap = len(asked & words)
        if overlap:
            scored.append((overlap / len(asked | _words(entry.question)), entry))
    if not scored:
        return None
    score, entry = max(scored, key=lambda item: item[0])
    return entry if score >= 0.15 else None


class OfflineResponder:
    def __init__(
        self, entries: Sequence[QuestionAnswer], *, no_match: str, ranked: bool = False
    ) -> None:
        self._entries = list(entries)
        self._no_match = no_match
        self._ranked = ranked

    @classmethod
    def from_search(cls, entries: Sequence[QuestionAnswer], *, no_match: str) -> OfflineResponder:
        """Answers with the first of ``entries``, already ranked by the knowledge search."""
        return cls(entries, no_match=no_match, ranked=True)

    async def generate(self, request: LlmRequest) -> LlmReply:
        if self._ranked:
            entry = self._entries[0] if self._entries else None
            return LlmReply(text=entry.answer if entry else self._no_match, model="offline")
        asked = request.history[-1].text if request.history else ""
        asked = unwrap(asked)
        entry = best_entry(asked, self._entries)
        return LlmReply(text=entry.answer if entry else self._no_match, model="offline")

    async def describe(self, request: MediaRequest) -> LlmReply:
        raise PermanentError("media_needs_a_model", "no Gemini key: media cannot be read")

    async def aclose(self) -> None:
        return None
