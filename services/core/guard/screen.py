"""Input screening: cheap, deterministic, advisory (reliability.md §5.2 item 6).

:func:`normalize` is applied to every customer text before it reaches the model: NFKC (so
full-width ``＜＜`` or styled letters become plain ones), no zero-width, bidi-control, tag or
variation-selector characters (used to hide text from humans), no control characters except
newline and tab, and a length cap (a cost bomb is cut, not paid for).

:func:`screen` also names heuristic *flags* ("ignore previous instructions", "system prompt",
base64 blobs …). They are only logged — the real controls are the delimiters and the output
guard, since any phrase list is trivially evaded.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# One message, and one turn (a burst of messages), at most this long once normalized.
MAX_MESSAGE_CHARS = 2000
MAX_TURN_CHARS = 6000
TRUNCATED = " […]"

_INVISIBLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # arabic letter mark
    "\u115f\u1160\u3164\uffa0"  # hangul fillers
    "\u180e"  # mongolian vowel separator
    "\u200b-\u200f"  # zero-width space/joiners, LRM/RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated formats
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # BOM / zero-width no-break space
    "\ufff9-\ufffb"  # interlinear annotations
    "\U000e0000-\U000e007f"  # tag characters (ASCII smuggling)
    "\U000e0100-\U000e01ef"  # variation selectors supplement
    "]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t]{3,}")
_NEWLINES = re.compile(r"\n{3,}")

_FLAGS: dict[str, re.Pattern[str]] = {
    "override": re.compile(
        r"\b(ignore|disregard|forget|ignor[ea]|esque[cç]a|olvid[ae]|desconsidere)\b.{0,40}"
        r"\b(previous|prior|above|all|anteriores?|todas?|instru[cç](?:[oõ]es|iones)|instructions?"
        r"|rules|regras|reglas)\b",
        re.I | re.S,
    ),
    "prompt_extraction": re.compile(
        r"system\s*prompt|prompt\s+(?:do|del)\s+sistema|(?:suas|tus|your)\s+instru[cç]|"
        r"\b(?:repeat|repita|repite|print|imprima|mostre|muestra|reveal|revele)\b.{0,40}"
        r"\b(?:instructions?|instru[cç](?:[oõ]es|iones)|prompt|regras|reglas|rules)\b",
        re.I | re.S,
    ),
    "role_play": re.compile(
        r"\bDAN\b|developer\s+mode|modo\s+desenvolvedor|modo\s+desarrollador|jailbreak|"
        r"\bpretend\b|\bfinja\b|\bfinge\b|\byou\s+are\s+now\b|\bagora\s+voc[eê]\s+[eé]\b|"
        r"\bahora\s+eres\b",
        re.I,
    ),
    "delimiter": re.compile(r"<<|>>|</?\s*(?:cliente|system|sistema|kb)\b", re.I),
    "encoding": re.compile(r"[A-Za-z0-9+/]{24,}={0,2}|\b(?:base64|rot13|hex)\b", re.I),
    "secret_fishing": re.compile(
        r"api[\s_-]?key|token|senha|password|contraseña|credencia|secret|segredo|webhook",
        re.I,
    ),
}


@dataclass(frozen=True, slots=True)
class Screened:
    text: str
    flags: tuple[str, ...]
    truncated: bool
    removed: int  # invisible/control characters removed


def _cap(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: limit - len(TRUNCATED)] + TRUNCATED, True


def _clean(text: str, limit: int) -> tuple[str, bool, int]:
    """NFKC, one newline style, invisible and control characters removed, runs of blanks
    squeezed, capped: (text, cut, characters removed)."""
    # Cap the raw input first: normalizing megabytes would itself be the cost bomb.
    raw, cut_raw = _cap(text, limit * 4)
    folded = unicodedata.normalize("NFKC", raw).replace("\r\n", "\n").replace("\r", "\n")
    cleaned = _INVISIBLE.sub("", folded)
    cleaned = _CONTROL.sub("", cleaned)
    removed = len(folded) - len(cleaned)
    cleaned = _NEWLINES.sub("\n\n", _SPACES.sub("  ", cleaned)).strip()
    capped, cut = _cap(cleaned, limit)
    return capped, cut or cut_raw, removed


def normalize(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return _clean(text, limit)[0]


def screen(text: str, limit: int = MAX_MESSAGE_CHARS) -> Screened:
    """The text as the model may see it, and the heuristic flags it raised (log them only)."""
    capped, cut, removed = _clean(text, limit)
    flags = [name for name, pattern in _FLAGS.items() if pattern.search(capped)]
    if removed:
        flags.append("invisible")
    if cut:
        flags.append("oversized")
    return Screened(capped, tuple(flags), cut, removed)
