"""A webhook body parsed into JSON that Postgres can store exactly as we hold it.

Python's ``json`` accepts more than JSON, and Postgres stores less than Python holds; each gap
is closed here, before a message meets any other in a batch:

* ``NaN``, ``Infinity``, ``-Infinity`` and floats beyond double range (``1e400``) are refused:
  no JSON has them and ``jsonb`` cannot hold them, so no real sender sends them.
* Integers longer than :data:`MAX_INT_DIGITS` are refused: no field of a message is that long,
  and Python would refuse to convert them anyway.
* Nesting deeper than :data:`MAX_DEPTH` is refused: a Baileys message with quoted replies nests
  about twenty levels; more is an attack on the parser (and on Postgres's).
* U+0000 is dropped: it means nothing in a chat and neither ``text`` nor ``jsonb`` can hold it,
  so the message is stored without it.
* A lone UTF-16 surrogate (``"\\ud800"``) is replaced with U+FFFD: it comes from a JavaScript
  sender cutting a string in the middle of an emoji, the rest of the customer's words are worth
  answering, and U+FFFD is what any UTF-8 decoder makes of a broken sequence. UTF-8 cannot
  encode a lone surrogate, so storing it as is fails.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .refusals import RefusedBody

MAX_DEPTH = 64
MAX_INT_DIGITS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _constant(name: str) -> Any:
    raise RefusedBody("json_constant", f"{name} is not a JSON number")


def _float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise RefusedBody("json_constant", "a number beyond double precision is not accepted")
    return value


def _int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise RefusedBody("number_too_long", f"integers have at most {MAX_INT_DIGITS} digits")
    return int(literal)


# Built once: ``json.loads`` with hooks builds a decoder (and its scanner) on every call.
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int)


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object fit for Postgres; :class:`RefusedBody` (400) otherwise."""
    return parse_body(body)[0]


def parse_body(body: bytes) -> tuple[dict[str, Any], str]:
    """:func:`parse_json`, and the object as JSON text for its ``jsonb`` column: the body
    itself when nothing in it needed cleaning (as good as re-encoding the object, and what
    the sender sent), one pass either way."""
    text, verbatim = _decoded(body)
    try:
        payload = _DECODER.decode(text)
    except RecursionError:
        raise RefusedBody("too_deep", f"JSON nests at most {MAX_DEPTH} levels") from None
    except ValueError:
        raise RefusedBody("not_json", "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise RefusedBody("not_object", "body must be a JSON object")
    # NUL and lone surrogates come only from a \u escape (or a non-UTF-8 body), and nesting
    # needs a bracket per level: without them the walk would change nothing.
    if verbatim and "\\u" not in text and text.count("{") + text.count("[") <= MAX_DEPTH:
        return payload, text
    cleaned: dict[str, Any] = _clean(payload, 1)
    return cleaned, json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False)


def _decoded(body: bytes) -> tuple[str, bool]:
    """The body as ``json.loads`` decodes it, and whether it was strict UTF-8 (no surrogate
    and no byte-order mark can hide in it then)."""
    encoding = json.detect_encoding(body)
    try:
        if encoding == "utf-8":
            try:
                return body.decode("utf-8"), True
            except UnicodeDecodeError:
                pass
        return body.decode(encoding, "surrogatepass"), False
    except UnicodeDecodeError:
        raise RefusedBody("not_json", "body is not valid JSON") from None


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict | list) and depth > MAX_DEPTH:
        raise RefusedBody("too_deep", f"JSON nests at most {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {_text(k): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    return value


def _text(value: str) -> str:
    if value.isascii():
        return value.replace("\x00", "")
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))
