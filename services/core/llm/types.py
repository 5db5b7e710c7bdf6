"""What the turn pipeline asks of a language model, independent of the provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

Role = Literal["user", "model"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    text: str


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """The model called ``transfer_to_human(reason, summary)``."""

    reason: str
    summary: str


@dataclass(frozen=True, slots=True)
class LlmRequest:
    model: str
    system_prompt: str
    # Oldest first; the last entry is the customer's new (possibly multi-message) turn.
    history: list[ChatMessage]
    allow_handoff: bool = True
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class MediaRequest:
    """Turn a customer's voice note or image into text: ``instruction`` says how."""

    model: str
    instruction: str
    data: bytes
    mime_type: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class LlmReply:
    text: str
    model: str
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    handoff: HandoffRequest | None = None
    # The provider refused (safety block): ``text`` is empty and the caller sends a canned answer.
    blocked: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class LlmClient(Protocol):
    async def generate(self, request: LlmRequest) -> LlmReply:
        """Raise ``TransientError`` for what may succeed later, ``PermanentError`` otherwise."""
        ...

    async def describe(self, request: MediaRequest) -> LlmReply:
        """The media as text (a transcript, a description); errors as for ``generate``."""
        ...

    async def aclose(self) -> None: ...
