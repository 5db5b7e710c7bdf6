"""Opening a customer's conversation, as the panel and ``/api/v1`` both do: reading one is
itself an operator action, so the view is recorded in the audit log.

A page that stays open polls the thread every few seconds; one audit row per reader and
conversation per :data:`VIEW_WINDOW_SECONDS` says the same as one per poll without flooding
the log. The window is a Redis key taken before the row is written and given back if the
transaction that holds the row fails, so a view is never left unrecorded.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.errors import NotFound

from .queries import ConversationDetail, conversation_detail

VIEW_WINDOW_SECONDS = 600


@dataclass(frozen=True, slots=True)
class ViewWindow:
    """Whether a reader's view of a conversation is new enough to be audited again."""

    redis: Redis
    user_id: int
    seconds: int = VIEW_WINDOW_SECONDS

    def _key(self, conversation_id: int) -> str:
        return f"atende:viewed:{self.user_id}:{conversation_id}"

    async def claim(self, conversation_id: int) -> bool:
        """True for the first view in the window (the caller records it)."""
        taken = await self.redis.set(self._key(conversation_id), b"1", nx=True, ex=self.seconds)
        return bool(taken)

    async def release(self, conversation_id: int) -> None:
        """The row of a claimed view was not committed: the next view records it."""
        await self.redis.delete(self._key(conversation_id))


async def open_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    scope: Collection[int] | None,
    actor: str,
    window: ViewWindow | None = None,
) -> ConversationDetail:
    """The thread, if in scope (else NotFound, as for a missing one), and its audit row in the
    caller's transaction: every time, or once per ``window`` (the caller releases the window
    if its transaction fails)."""
    detail = await conversation_detail(session, conversation_id, scope=scope)
    if detail is None:
        raise NotFound("conversation not found")
    if window is None or await window.claim(conversation_id):
        await record(
            session,
            actor=actor,
            action="conversation.viewed",
            tenant_id=detail.conversation.tenant_id,
            details={"conversation_id": conversation_id},
        )
    return detail
