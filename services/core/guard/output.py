"""The output guard (reliability.md §5.2 #5): every model reply is checked before it is stored.

A reply is *blocked* — replaced with :func:`safe_reply` in the persona's language — when it
contains, after folding case, accents, invisible characters and punctuation:

* ``canary``        the tenant's canary (also spelled with spaces or dashes in between);
* ``system_prompt`` any 8-word shingle of the tenant's protected instructions (its persona prompt
  and the house rules) that is not also in its public text (knowledge, notes);
* ``secret``        an API-key/token-looking string (``AIza…``, ``whsec_…``, JWTs, bearer tokens,
  ``sk-…``, ``ghp_…``, private keys) or one of the tenant's own credential values, the webhook
  secret hashes, or platform secrets;
* ``cross_tenant``  another tenant's data: its display name, or an 8-word shingle of its persona
  prompt or knowledge, when this tenant's own texts do not have it too.

Only the reason is logged and counted, never the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .foreign import ForeignData
from .screen import normalize
from .text import (
    SHINGLE_WORDS,
    Shingle,
    compact,
    contains_sequence,
    shingles,
    shingles_of,
    words,
)

MIN_SECRET_CHARS = 8

SAFE_REPLIES = {
    "pt": "Desculpe, não posso ajudar com isso. Posso chamar um atendente?",
    "en": "Sorry, I can't help with that. Shall I get a human agent for you?",
    "es": "Lo siento, no puedo ayudar con eso. ¿Quieres que llame a un agente?",
}

_SECRET_PATTERNS = [
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys
    re.compile(r"whsec_[A-Za-z0-9+/=_\-]{8,}"),  # webhook signing secrets
    re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
    re.compile(r"\bbearer\s+[A-Za-z0-9._~+/=\-]{16,}", re.I),
    re.compile(r"\b(?:sk|rk|pk)[-_](?:live_|test_|proj-)?[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\b(?:ghp|gho|ghs|github_pat|xox[abpr])[_\-][A-Za-z0-9_\-]{16,}"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
]


def safe_reply(language: str) -> str:
    return SAFE_REPLIES.get(language.split("-")[0].lower(), SAFE_REPLIES["pt"])


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str
    reason: str | None = None

    @property
    def blocked(self) -> bool:
        return self.reason is not None


@dataclass
class OutputGuard:
    """What one tenant's replies must never contain; made by :meth:`build`, reused for every
    reply of the same tenant version (see :class:`~services.core.guard.cache.OutputGuards`)."""

    language: str
    canary: str
    protected: set[Shingle] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    foreign_names: set[Shingle] = field(default_factory=set)
    foreign_shingles: set[Shingle] = field(default_factory=set)
    # Folded once here rather than for every reply: (lower-cased, letters and digits only).
    _folded_canary: str = field(init=False, repr=False)
    _folded_secrets: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._folded_canary = compact(self.canary)
        self._folded_secrets = [(s.lower(), compact(s)) for s in self.secrets]

    @classmethod
    def build(
        cls,
        *,
        language: str,
        canary: str,
        protected: Iterable[str],
        public: Iterable[str],
        secrets: Iterable[str | None] = (),
        foreign: ForeignData | None = None,
    ) -> OutputGuard:
        """``protected``: instructions never to be quoted; ``public``: this tenant's own texts
        the bot may quote (knowledge, notes, display name) — they are never a leak."""
        public_texts = list(public)
        public_shingles: set[Shingle] = set()
        for text in public_texts:
            public_shingles |= shingles(text)
        protected_shingles: set[Shingle] = set()
        for text in protected:
            protected_shingles |= shingles(text)
        guard = cls(
            language=language,
            canary=canary,
            protected=protected_shingles - public_shingles,
            secrets={s for s in secrets if s and len(s) >= MIN_SECRET_CHARS},
        )
        if foreign is not None:
            own_words = [words(text) for text in [*public_texts, *protected]]
            for name in foreign.names:
                seq = tuple(words(name))
                if len("".join(seq)) < foreign.min_name_chars:
                    continue
                if not any(contains_sequence(own, seq) for own in own_words):
                    guard.foreign_names.add(seq)
            guard.foreign_shingles = foreign.shingles - public_shingles - protected_shingles
        return guard

    def check(self, text: str) -> Verdict:
        reason = self._reason(text)
        return Verdict(safe_reply(self.language) if reason else text, reason)

    def _reason(self, text: str) -> str | None:
        clean = normalize(text, limit=10**7)
        tokens = words(clean)
        folded = "".join(tokens)
        if self._folded_canary in folded:
            return "canary"
        if any(pattern.search(clean) for pattern in _SECRET_PATTERNS):
            return "secret"
        lowered = clean.lower()
        if any(low in lowered or bare in folded for low, bare in self._folded_secrets):
            return "secret"
        reply_shingles = shingles_of(tokens, SHINGLE_WORDS)
        if reply_shingles & self.protected:
            return "system_prompt"
        if reply_shingles & self.foreign_shingles:
            return "cross_tenant"
        if any(contains_sequence(tokens, name) for name in self.foreign_names):
            return "cross_tenant"
        return None
