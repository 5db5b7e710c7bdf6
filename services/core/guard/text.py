"""Folded words and shingles: the form in which replies and protected texts are compared."""

from __future__ import annotations

import re
import unicodedata

from .screen import normalize

SHINGLE_WORDS = 8
Shingle = tuple[str, ...]


def words(text: str) -> list[str]:
    """Lower-case, accent-free, punctuation-free words (``já``, ``JA`` and ``ja`` are one)."""
    folded = unicodedata.normalize("NFKD", normalize(text, limit=10**7).lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return re.findall(r"[^\W_]+", folded)


def shingles_of(tokens: list[str], size: int = SHINGLE_WORDS) -> set[Shingle]:
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


def shingles(text: str, size: int = SHINGLE_WORDS) -> set[Shingle]:
    return shingles_of(words(text), size)


def compact(text: str) -> str:
    """Only letters and digits, folded: ``ATD-12 ab`` and ``atd12ab`` compare equal."""
    return "".join(words(text))


def contains_sequence(haystack: list[str], needle: Shingle) -> bool:
    n = len(needle)
    return any(tuple(haystack[i : i + n]) == needle for i in range(len(haystack) - n + 1))
