"""Opening a customer's conversation, as the panel and ``/api/v1`` both do: reading one is
itself an operator action, so the view is recorded in the audit log."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession

from services.core.audit.service import record
from services.core.errors import NotFound

from .queries import ConversationDetail, conversation_detail


async def open_conversation(
    session: AsyncSession,
    conversation_id: int,
    *,
    scope: Collection[int] | None,
    actor: str,
) -> ConversationDetail:
    """The thread, if in scope (else NotFound, as for a missing one), and its audit row in the
    caller's transaction."""
    detail = await conversation_detail(session, conversation_id, scope=scope)
    if detail is None:
        raise NotFound("conversation not found")
    await record(
        session,
        actor=actor,
        action="conversation.viewed",
        tenant_id=detail.conversation.tenant_id,
        details={"conversation_id": conversation_id},
    )
    return detail
