"""The source IP of a request, for the pre-auth throttle and the audit log.

``X-Forwarded-For`` is honoured only when ``ATENDE_TRUSTED_PROXY_HOPS`` says how many proxies
of ours stand in front of the api (each appends the address it received the request from); any
entry left of those is whatever the client claimed and is never trusted. Without the setting the
TCP peer is the source: anyone can write the header.

A chain shorter than the hops did not come through all our proxies (someone reached an inner
one, or the api, directly), so none of its entries can be told from what the client wrote:
the TCP peer is the source then. An entry that is not an IP address is refused the same way,
so the value is always a short, real address.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.types import Scope


def _address(value: str | None) -> str | None:
    if not value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def client_ip(request: Request, trusted_proxy_hops: int) -> str | None:
    return scope_client_ip(request.scope, trusted_proxy_hops)


def scope_client_ip(scope: Scope, trusted_proxy_hops: int) -> str | None:
    """:func:`client_ip` of a raw ASGI scope (the webhook's route has no ``Request``)."""
    client = scope.get("client")
    peer = client[0][:64] if client else None  # from the socket
    if trusted_proxy_hops <= 0:
        return peer
    chain = [
        part.strip()
        for name, value in scope["headers"]
        if name == b"x-forwarded-for"
        for part in value.decode("latin-1").split(",")
        if part.strip()
    ]
    if len(chain) < trusted_proxy_hops:
        return peer
    return _address(chain[-trusted_proxy_hops]) or peer
