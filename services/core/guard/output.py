"""The output guard (reliability.md §5.2 #5): every model reply is checked before it is stored.

A reply is *blocked* — the turn sends the tenant's ``spec.messages.blocked`` instead — when it
contains, after folding case, accents, invisible characters and punctuation:

* ``canary``        the tenant's canary (also spelled with spaces or dashes in between);
* ``system_prompt`` any 8-word shingle of the tenant's protected instructions (its persona prompt
  and the house rules) that is not also in its public text (knowledge, notes);
* ``secret``        an API-key/token-looking string (``AIza…``, ``whsec_…``, JWTs, bearer tokens,
  ``sk-…``, ``ghp_…``, private keys) or one of the tenant's own credential values, the webhook
  secret hashes, or platform secrets;
* ``cross_tenant``  another tenant's data: its display name, or an 8-word shingle of its persona
  prompt or knowledge, when this tenant's own texts do not have it too; such a reply becomes the
  tenant's usual ``spec.messages.fallback``, not a refusal that would single it out.

What the customer typed is never a reason: the model repeating the customer's own words leaks
nothing, and blocking it would confirm a guess. Only the reason is logged and counted, never the
text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .foreign import ForeignLookup
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


@dataclass(frozen=True, slots=True)
class Verdict:
    """The reply's text when it passed; a blocked one carries only the reason (the caller says
    the tenant's own words instead, so the leaked text goes nowhere)."""

    text: str
    reason: str | None = None

    @property
    def blocked(self) -> bool:
        return self.reason is not None


@dataclass
class OutputGuard:
    """What one tenant's replies must never contain; made by :meth:`build`, reused for every
    reply of the same tenant version (see :class:`~services.core.guard.cache.OutputGuards`).

    Holds only this tenant's own texts; other tenants' data is asked of the shared
    :class:`~services.core.guard.foreign.ForeignIndex`, which every guard of a worker shares."""

    canary: str
    protected: set[Shingle] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    tenant_id: int | None = None
    foreign: ForeignLookup | None = None
    # This tenant's own shingles and texts' words: what another tenant also has is no leak.
    own: set[Shingle] = field(default_factory=set)
    own_words: list[list[str]] = field(default_factory=list)
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
        canary: str,
        protected: Iterable[str],
        public: Iterable[str],
        secrets: Iterable[str | None] = (),
        foreign: ForeignLookup | None = None,
        tenant_id: int | None = None,
    ) -> OutputGuard:
        """``protected``: instructions never to be quoted; ``public``: this tenant's own texts
        the bot may quote (knowledge, notes, display name) — they are never a leak."""
        public_texts, protected_texts = list(public), list(protected)
        public_shingles: set[Shingle] = set()
        for text in public_texts:
            public_shingles |= shingles(text)
        protected_shingles: set[Shingle] = set()
        for text in protected_texts:
            protected_shingles |= shingles(text)
        return cls(
            canary=canary,
            protected=protected_shingles - public_shingles,
            secrets={s for s in secrets if s and len(s) >= MIN_SECRET_CHARS},
            tenant_id=tenant_id,
            foreign=foreign,
            own=public_shingles | protected_shingles if foreign is not None else set(),
            own_words=[words(t) for t in [*public_texts, *protected_texts]] if foreign else [],
        )

    def check(self, text: str, typed: Iterable[str] = ()) -> Verdict:
        """``typed``: what the customer wrote. The model repeating it leaks nothing, so it is
        never a reason to block (else a guess echoed back would be confirmed by the refusal)."""
        reason = self._reason(text, _Typed.of(typed))
        return Verdict(text) if reason is None else Verdict("", reason)

    def _reason(self, text: str, typed: _Typed) -> str | None:
        clean = normalize(text, limit=10**7)
        tokens = words(clean)
        folded = "".join(tokens)
        if self._folded_canary in folded and self._folded_canary not in typed.folded:
            return "canary"
        for pattern in _SECRET_PATTERNS:
            if any(m.group() not in typed.clean for m in pattern.finditer(clean)):
                return "secret"
        lowered = clean.lower()
        for low, bare in self._folded_secrets:
            if (low in lowered or bare in folded) and not typed.has_secret(low, bare):
                return "secret"
        reply_shingles = shingles_of(tokens, SHINGLE_WORDS) - typed.shingles
        if reply_shingles & self.protected:
            return "system_prompt"
        if self.foreign is not None and self._quotes_another_tenant(tokens, reply_shingles, typed):
            return "cross_tenant"
        return None

    def _quotes_another_tenant(
        self, tokens: list[str], reply_shingles: set[Shingle], typed: _Typed
    ) -> bool:
        assert self.foreign is not None
        if self.foreign.others_have(self.tenant_id, reply_shingles - self.own):
            return True
        return any(
            not typed.has_sequence(name)
            and not any(contains_sequence(own, name) for own in self.own_words)
            for name in self.foreign.names_in(self.tenant_id, tokens)
        )


@dataclass(frozen=True, slots=True)
class _Typed:
    """The customer's own words, in the forms the checks compare."""

    clean: str
    folded: str
    token_lists: list[list[str]]
    shingles: set[Shingle]

    @classmethod
    def of(cls, texts: Iterable[str]) -> _Typed:
        cleaned = [normalize(t, limit=10**7) for t in texts]
        token_lists = [words(t) for t in cleaned]
        found: set[Shingle] = set()
        for tokens in token_lists:
            found |= shingles_of(tokens, SHINGLE_WORDS)
        folded = "\n".join("".join(tokens) for tokens in token_lists)
        return cls("\n".join(cleaned), folded, token_lists, found)

    def has_secret(self, low: str, bare: str) -> bool:
        return low in self.clean.lower() or bare in self.folded

    def has_sequence(self, seq: Shingle) -> bool:
        return any(contains_sequence(tokens, seq) for tokens in self.token_lists)
