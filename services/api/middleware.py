"""ASGI middleware: a body-size cap that never buffers more than the cap, and request logging
that masks webhook secrets."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.logging import bind_correlation_id, get_logger, mask_hook_path

log = get_logger("atende.http")


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    # Of an oversized body, this many times the cap is still read (and thrown away) before the
    # 413: answering while the client is still sending makes the kernel reset the connection,
    # and the client would see a reset instead of the 413.
    DRAIN_FACTOR = 8

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _discard(receive, self.max_bytes * self.DRAIN_FACTOR)
            await _too_large(send, self.max_bytes)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except BodyTooLarge:
            await _discard(receive, self.max_bytes * (self.DRAIN_FACTOR - 1))
            await _too_large(send, self.max_bytes)


async def _discard(receive: Receive, budget: int) -> None:
    """Read what the client is still sending, up to ``budget`` bytes, keeping none of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _too_large(send: Send, max_bytes: int) -> None:
    body = b'{"error":"payload_too_large","message":"body exceeds %d bytes"}' % max_bytes
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestLog:
    """One line per request with a correlation id; the access log of uvicorn is off because it
    would print webhook secrets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:32] or None
        correlation_id = bind_correlation_id(incoming if incoming and incoming.isalnum() else None)
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", correlation_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if scope["path"] not in ("/metrics", "/healthz", "/readyz"):
                log.info(
                    "http.request",
                    method=scope["method"],
                    path=mask_hook_path(scope["path"]),
                    status=status,
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )


# The panel's own files only: no inline script or style, no framing, forms post to us. The one
# inline handler the templates use (the simulator's tenant picker submits on change) is allowed
# by its hash, not by 'unsafe-inline'.
_AUTOSUBMIT = "'sha256-osjxnKEPL/pQJbFk1dKsF7PYFmTyMWGmVSiL9inhxJY='"  # this.form.submit()
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; "
    f"script-src 'self' 'unsafe-hashes' {_AUTOSUBMIT}; "
    "style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# FastAPI's interactive /docs and /redoc load their scripts from a CDN with an inline starter.
_DOCS_POLICY = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net 'unsafe-inline'; img-src https: data:; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
HSTS = b"max-age=31536000; includeSubDomains"
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_CSP = (b"content-security-policy", CONTENT_SECURITY_POLICY.encode())
_DOCS_CSP = (b"content-security-policy", _DOCS_POLICY.encode())
_NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Headers on every response, including errors and the 413: no sniffing, no framing, no
    referrer to other sites, a CSP; ``no-store`` on everything but the panel's static files
    (pages and API answers carry tenants' data); HSTS when the request came over https, which
    behind ``ATENDE_TRUSTED_PROXY_HOPS`` proxies is what their ``X-Forwarded-Proto`` says."""

    def __init__(self, app: ASGIApp, trusted_proxy_hops: int = 0) -> None:
        self.app = app
        self.trusted_proxy_hops = trusted_proxy_hops

    def _https(self, scope: Scope) -> bool:
        if scope.get("scheme") == "https":
            return True
        if self.trusted_proxy_hops <= 0:
            return False
        proto: bytes = dict(scope["headers"]).get(b"x-forwarded-proto", b"")
        return proto.split(b",")[-1].strip().lower() == b"https"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = path in ("/docs", "/redoc", "/docs/oauth2-redirect")
        extra = [*_ALWAYS, _DOCS_CSP if docs else _CSP]
        if not path.startswith("/panel/static/"):
            extra.append(_NO_STORE)
        if self._https(scope):
            extra.append((b"strict-transport-security", HSTS))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
