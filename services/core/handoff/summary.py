"""The handoff packet: what the agent needs to continue without asking the customer again.

Built from what is already known, without another model call: the model's own summary when it
called ``transfer_to_human``, the customer's recent words, the data they gave (e-mails, CPF or
CNPJ, long numbers such as orders and protocols, CEPs), what the bot answered, and which
knowledge entries it used. Stored on the handoff row (the panel shows it) and rendered as one
note text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from services.core.llm.types import ChatMessage

_DATA_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "cpf": re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"),
    "cnpj": re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b"),
    "cep": re.compile(r"\b\d{5}-\d{3}\b"),
    "number": re.compile(r"\b\d{5,}\b"),
}
_KEEP = 6  # recent customer messages and bot replies kept in the packet
_CLIP = 300


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"


def collected_data(texts: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    claimed: set[str] = set()
    for name, pattern in _DATA_PATTERNS.items():
        values = []
        for text in texts:
            for match in pattern.findall(text):
                digits = re.sub(r"\D", "", match)
                if match not in values and digits not in claimed:
                    values.append(match)
                    claimed.add(digits or match)
        if values:
            found[name] = values
    return found


def build_summary(
    *,
    trigger: str,
    reason: str,
    model_summary: str | None,
    history: Sequence[ChatMessage],
    customer_texts: Sequence[str],
    knowledge_ids: Sequence[int] = (),
) -> dict[str, Any]:
    said = [m.text for m in history if m.role == "user"] + list(customer_texts)
    answered = [m.text for m in history if m.role == "model"]
    return {
        "trigger": trigger,
        "reason": _clip(reason),
        "intent": _clip(model_summary) if model_summary else _clip(said[-1]) if said else "",
        "customer_said": [_clip(t) for t in said[-_KEEP:]],
        "data": collected_data(said),
        "bot_tried": [_clip(t) for t in answered[-_KEEP:]],
        "knowledge_ids": list(knowledge_ids),
    }


def render_note(
    summary: dict[str, Any], *, abstract: str | None = None, knowledge: Sequence[str] = ()
) -> str:
    """The packet as the agent reads it: in the ticket's notes and in the panel. ``abstract``
    is the model's summary of the conversation (``handoff/note.py``), ``knowledge`` the
    questions of the entries the bot answered from."""
    lines = [f"Motivo: {summary.get('reason') or summary.get('trigger')}"]
    if abstract:
        lines.append(f"Resumo: {_clip(abstract)}")
    if summary.get("intent"):
        lines.append(f"Pedido: {summary['intent']}")
    for name, values in (summary.get("data") or {}).items():
        lines.append(f"{name}: {', '.join(values)}")
    if summary.get("bot_tried"):
        lines.append(f"O bot respondeu: {summary['bot_tried'][-1]}")
    if knowledge:
        lines.append(f"Base consultada: {'; '.join(_clip(q) for q in knowledge)}")
    return "\n".join(lines)


def note_parts(text: str, marker: str, *, limit: int, most: int) -> list[str]:
    """``text`` as at most ``most`` notes of at most ``limit`` characters, each opening with
    ``marker`` and its number ("[Atende #12 1/2] "), whole lines where they fit."""
    room = limit - len(f"{marker} {most}/{most}] ")
    chunks: list[str] = []
    for line in text.splitlines():
        line = line if len(line) <= room else line[: room - 1] + "…"
        if chunks and len(chunks[-1]) + 1 + len(line) <= room:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    chunks = chunks[:most]
    return [f"{marker} {n}/{len(chunks)}] {chunk}" for n, chunk in enumerate(chunks, 1)]
