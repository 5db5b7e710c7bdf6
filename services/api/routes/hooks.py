"""Webhooks from Whaticket and from Meta's WhatsApp Cloud API. Thin: the receiver in core does
the work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from services.api.client_ip import client_ip
from services.api.deps import StateDep
from services.api.state import AppState
from services.core.channels.meta_webhook import SIGNATURE_HEADER, verification_challenge
from services.core.errors import Forbidden, NotFound

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
    # Requests are served by services.api.webhook_route before they reach this route, which
    # documents the endpoint and answers what that does not take (a root path).
    correlation_id: str = request.scope["state"]["correlation_id"]
    ip = client_ip(request, state.settings.trusted_proxy_hops)
    return await take_whaticket(state, tenant, connection, secret, request.body, correlation_id, ip)


async def take_whaticket(
    state: AppState,
    tenant: str,
    connection: str,
    secret: str,
    read_body: Callable[[], Awaitable[bytes]],
    correlation_id: str,
    ip: str | None,
) -> dict[str, Any]:
    """The webhook's answer; raises the receiver's refusals."""
    received = await state.receiver.handle(
        tenant, connection, secret, read_body, correlation_id, client_ip=ip
    )
    answer: dict[str, Any] = {"status": received.outcome}
    if received.reason:
        answer["reason"] = received.reason
    return answer


@router.get(
    "/meta/{tenant}",
    summary="Answer Meta's subscription check for the Cloud API webhook",
    response_class=PlainTextResponse,
    responses={403: {"description": "Wrong verify token."}, 404: {"description": "No spec.meta."}},
)
async def meta_verification(tenant: str, request: Request, state: StateDep) -> PlainTextResponse:
    found = await state.tenants.by_slug(tenant)
    if found is None or not found.enabled or found.spec.meta is None:
        raise NotFound("unknown tenant")
    params = dict(request.query_params)
    challenge = verification_challenge(params, found.credentials.meta_verify_token)
    if challenge is None:
        raise Forbidden("the verify token does not match")
    return PlainTextResponse(challenge)


@router.post(
    "/meta/{tenant}",
    summary="Receive WhatsApp Cloud API notifications (messages and delivery statuses)",
    responses={
        200: {"description": "Every message stored (or a duplicate) and every status applied."},
        400: {"description": "Body is not JSON."},
        401: {"description": "X-Hub-Signature-256 is missing or wrong."},
        404: {"description": "Unknown tenant, or a tenant without spec.meta."},
        413: {"description": "Body larger than the configured cap."},
        422: {"description": "JSON, but not a whatsapp_business_account notification."},
        503: {"description": "Postgres unreachable: nothing taken, Meta redelivers."},
    },
)
async def meta_webhook(tenant: str, request: Request, state: StateDep) -> dict[str, Any]:
    correlation_id: str = request.scope["state"]["correlation_id"]
    counts = await state.receiver.cloud_api(
        tenant,
        await request.body(),
        request.headers.get(SIGNATURE_HEADER),
        correlation_id,
    )
    return {"status": "ok", **counts}
