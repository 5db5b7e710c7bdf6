"""Jobs a tenant's workflow asked for through the action API: a message, a ticket close."""

from __future__ import annotations

from typing import Any

from services.core.handoff.closing import close_ticket as close
from services.core.outbound import workflow
from services.worker.context import typed

from .retries import retried


async def send_workflow_message(ctx: dict[str, Any], message_id: int) -> None:
    async with retried(ctx, "workflow_message", message_id=message_id):
        await workflow.send(typed(ctx)["runtime"], message_id)


async def close_ticket(ctx: dict[str, Any], conversation_id: int) -> None:
    async with retried(ctx, "ticket_close", conversation_id=conversation_id):
        await close(typed(ctx)["runtime"], conversation_id, typed(ctx).get("job_try", 1))
