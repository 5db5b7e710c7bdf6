"""Why a conversation goes to a person, decided from what the customer wrote.

Keywords (``spec.handoff.keywords``) match whole words or phrases, ignoring case and accents,
so "ATENDENTE", "atendênte" and "quero um atendente!" all match "atendente" while
"desatendente" does not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from enum import StrEnum


class Trigger(StrEnum):
    KEYWORD = "keyword"  # the customer used one of the tenant's handoff keywords
    TOOL = "tool"  # the model called transfer_to_human(reason, summary)
    FAILURE = "failure"  # the bot could not answer (dead letter, fallback)
    REPEATED = "repeated"  # the customer keeps asking the same thing: the bot is not helping
    BUDGET = "budget"  # the tenant's LLM budget is used up
    MEDIA = "media"  # audio or images the bot cannot read, with handoff enabled
    HUMAN = "human"  # a person answered on their own, from Whaticket or the phone
    WORKFLOW = "workflow"  # the tenant's automation asked for it (the action API)
    PANEL = "panel"  # an agent or supervisor asked for it in the panel


# The third time a customer sends the same words, a person is better than a third answer.
REPEAT_LIMIT = 3
MIN_REPEAT_WORDS = 3


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how texts are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", plain))


def asks_for_human(texts: Iterable[str], keywords: Sequence[str]) -> bool:
    phrases = [f" {folded} " for k in keywords if (folded := fold(k))]
    return any(p in f" {fold(text)} " for text in texts for p in phrases)


def repeats(texts: Sequence[str], earlier: Sequence[str]) -> bool:
    """Whether the newest text was already sent ``REPEAT_LIMIT - 1`` times before."""
    newest = fold(texts[-1]) if texts else ""
    if len(newest.split()) < MIN_REPEAT_WORDS:  # "ok", "obrigado": not a sign of trouble
        return False
    return sum(fold(t) == newest for t in earlier) >= REPEAT_LIMIT - 1
