"""The Whaticket webhook served at the ASGI level, the one route every customer message takes.

FastAPI's routing, dependency solving and response serialization cost about as much CPU as the
webhook's own work. This middleware answers ``POST /hooks/whaticket/{tenant}/{connection}/
{secret}`` before the router, with the same answers: it sits inside the body cap, the request
log and the security headers like every route, and a refusal gets the error shape of
:mod:`services.api.errors`. The FastAPI route of the same path stays: it documents the endpoint
and answers what this does not take (any other method, an app mounted under a root path).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .client_ip import scope_client_ip
from .errors import render_error
from .routes.hooks import take_whaticket
from .state import AppState

PREFIX = "/hooks/whaticket/"
_JSON = (b"content-type", b"application/json")


def hook_parts(scope: Scope) -> tuple[str, str, str] | None:
    """(tenant, connection, secret) of a request this serves, as the route's path would."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


class WhaticketWebhook:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._answers: dict[tuple[Any, ...], bytes] = {}  # a few outcomes and reasons

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = hook_parts(scope)
        if parts is None:
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.atende
        correlation_id: str = scope["state"]["correlation_id"]
        ip = scope_client_ip(scope, state.settings.trusted_proxy_hops)

        async def read_body() -> bytes:  # as Request.body reads it, without its generator
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect
                if message["type"] == "http.request":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        return b"".join(chunks)

        try:
            answer = await take_whaticket(state, *parts, read_body, correlation_id, ip)
        except Exception as exc:
            response = await render_error(Request(scope, receive), exc)
            if response is None:  # a bug: the server's own 500, as on any route
                raise
            await response(scope, receive, send)
            return
        await self._send_json(send, answer)

    async def _send_json(self, send: Send, answer: dict[str, Any]) -> None:
        key = tuple(answer.items())
        body = self._answers.get(key)
        if body is None:  # as Starlette's JSONResponse renders it
            body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
            if len(self._answers) < 64:
                self._answers[key] = body
        headers = [(b"content-length", str(len(body)).encode()), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
