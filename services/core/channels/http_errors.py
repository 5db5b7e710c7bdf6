"""What the HTTP channels (Whaticket, the Graph API, the SMS gateway) share: reading a JSON
error body, a ``Retry-After`` in seconds, and naming a transport failure by whether the request
can have been acted on."""

from __future__ import annotations

import math
from typing import Any

import httpx

from services.core.errors import DependencyError, PermanentError, TransientError


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds; None when absent or not a number (an HTTP date, garbage)."""
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def transport_error(
    exc: httpx.HTTPError | httpx.InvalidURL, prefix: str, what: str
) -> DependencyError:
    """Not connected: nothing was sent. No answer after sending: it may have been acted on."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientError(f"{prefix}_connect", f"cannot reach {what} ({kind})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return PermanentError(f"{prefix}_bad_url", f"cannot build the request ({kind})")
    return TransientError(f"{prefix}_timeout", f"no answer from {what} ({kind})", ambiguous=True)
