"""Before the model is asked: does this turn go to a person, or get a canned answer?

Pure decisions on what the customer sent (no I/O), so they are cheap and easy to test: the
tenant's handoff keywords, a customer repeating the same request, media the bot cannot read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from services.core.conversations.messages import MessageRow
from services.core.handoff.triggers import Trigger, asks_for_human, repeats
from services.core.llm.types import ChatMessage
from services.core.tenants.spec import BotTenantSpec

# What the bot can read: typed words, and media read into words (services/core/media).
TEXT_KINDS = frozenset({"text", "button", "list", "audio_text", "image_text"})
MEDIA_LABEL = "[o cliente enviou:"


@dataclass(frozen=True, slots=True)
class Handover:
    trigger: Trigger
    reason: str
    model_summary: str | None = None


def media_only(messages: Sequence[MessageRow]) -> bool:
    """Nothing but media without a caption: nothing the bot can read."""
    return all(m.kind not in TEXT_KINDS and not m.text.strip() for m in messages)


def before_model(
    spec: BotTenantSpec, messages: Sequence[MessageRow], history: Sequence[ChatMessage]
) -> Handover | Literal["text_only"] | None:
    handoff = spec.features.handoff
    texts = [m.text for m in messages if m.text.strip()]
    if handoff and asks_for_human(texts, spec.handoff.keywords):
        return Handover(Trigger.KEYWORD, "the customer asked for a person")
    if media_only(messages):
        said = [m.text for m in history if m.role == "user"]
        # Twice in a row: whatever they need to show, a person can see it in Whaticket.
        if handoff and said and said[-1].startswith(MEDIA_LABEL) and said[-1].endswith("]"):
            return Handover(Trigger.MEDIA, "the customer sends media the bot cannot read")
        return "text_only"
    earlier = [m.text for m in history if m.role == "user"]
    if handoff and repeats(texts, earlier):
        return Handover(Trigger.REPEATED, "the customer keeps repeating the same request")
    return None
