"""Webhooks from Whaticket. Thin: the receiver in core does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.api.client_ip import client_ip
from services.api.deps import StateDep

router = APIRouter(prefix="/hooks", tags=["webhooks"])


@router.post(
    "/whaticket/{tenant}/{connection}/{secret}",
    summary="Receive a customer message forwarded by Whaticket",
    responses={
        200: {
            "description": "Stored, spooled (Postgres unreachable), a duplicate, or ignored: "
            "nothing to retry."
        },
        400: {"description": "Body is not JSON."},
        401: {"description": "Wrong secret (no detail is given)."},
        404: {"description": "Unknown tenant or connection."},
        413: {"description": "Body larger than the configured cap."},
        422: {"description": "JSON, but not a Baileys message."},
        429: {
            "description": "This source IP failed authentication too often; see Retry-After. "
            "A request with a valid secret is never refused."
        },
    },
)
async def whaticket_webhook(
    tenant: str, connection: str, secret: str, request: Request, state: StateDep
) -> dict[str, Any]:
    correlation_id: str = request.scope["state"]["correlation_id"]
    received = await state.receiver.handle(
        tenant,
        connection,
        secret,
        request.body,
        correlation_id,
        client_ip=client_ip(request, state.settings.trusted_proxy_hops),
    )
    answer: dict[str, Any] = {"status": received.outcome}
    if received.reason:
        answer["reason"] = received.reason
    return answer
