"""Untrusted text between markers with a per-request random boundary (reliability.md §5.2 #2).

A user turn looks like::

    <<cliente id=3f9c0a1b7d2e4c55>>
    the customer's words
    <</cliente id=3f9c0a1b7d2e4c55>>

The nonce is fresh for every model request, so a customer cannot close the block: they do not
know it. Besides, the customer's text can never contain a marker: every ``<<``/``>>`` run is
reduced to a single angle bracket, tag-like imitations (``<cliente>``, ``</system>``, ``[INST]``
…) are removed, and the nonce itself is removed should it ever occur in the text.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

TAG = "cliente"
NONCE_BYTES = 8
# Anything that looks like a marker or a chat-template control token.
_IMITATION = re.compile(
    r"<+\s*/*\s*(?:cliente|customer(?:_message)?|client|user|usuario|usuário|system|sistema|"
    r"kb|assistant|model|instructions?|instru[cç][oõ]es)\b[^<>\n]{0,60}>+"
    r"|\[/?(?:INST|SYS|SYSTEM)\]|<\|[^|<>\n]{0,40}\|>",
    re.I,
)
_ANGLES_OPEN = re.compile(r"<{2,}")
_ANGLES_CLOSE = re.compile(r">{2,}")
_MARKER_LINE = re.compile(r"^<</?" + TAG + r" id=[0-9a-f]+>>$")


@dataclass(frozen=True, slots=True)
class Boundary:
    nonce: str

    @property
    def open(self) -> str:
        return f"<<{TAG} id={self.nonce}>>"

    @property
    def close(self) -> str:
        return f"<</{TAG} id={self.nonce}>>"

    def wrap(self, body: str) -> str:
        """``body`` (already screened) between the markers, with no way out of them."""
        return f"{self.open}\n{self.clean(body)}\n{self.close}"

    def clean(self, body: str) -> str:
        while True:  # removing one can form the other ("<NONCE<"): repeat until neither
            body = strip_markers(body)
            if self.nonce not in body:  # astronomically unlikely; but then it is a guarantee
                return body
            body = body.replace(self.nonce, "")


def new_boundary() -> Boundary:
    return Boundary(secrets.token_hex(NONCE_BYTES))


def strip_markers(text: str) -> str:
    """Remove what imitates a marker; no ``<<`` or ``>>`` survives."""
    previous = None
    while previous != text:
        previous = text
        text = _IMITATION.sub("", text)
        text = _ANGLES_OPEN.sub("<", text)
        text = _ANGLES_CLOSE.sub(">", text)
    return text


def unwrap(text: str) -> str:
    """The customer's words of a rendered user turn (for stand-ins and offline answers)."""
    return "\n".join(line for line in text.split("\n") if not _MARKER_LINE.match(line.strip()))
