"""The source IP of a request, for the pre-auth throttle.

``X-Forwarded-For`` is honoured only when ``ATENDE_TRUSTED_PROXY_HOPS`` says how many proxies
of ours stand in front of the api (each appends the address it received the request from); any
entry left of those is whatever the client claimed and is never trusted. Without the setting the
TCP peer is the source: anyone can write the header.
"""

from __future__ import annotations

from starlette.requests import Request


def client_ip(request: Request, trusted_proxy_hops: int) -> str | None:
    peer = request.client.host if request.client else None
    if trusted_proxy_hops <= 0:
        return peer
    chain = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    if len(chain) >= trusted_proxy_hops:
        return chain[-trusted_proxy_hops]
    return chain[0] if chain else peer
