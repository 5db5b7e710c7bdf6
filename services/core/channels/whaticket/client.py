"""Send a text through a Whaticket install and say, in our error vocabulary, what happened.

Every failure becomes a :class:`TransientError` (retry later) or a :class:`PermanentError`
(dead-letter it) with a stable, secret-free ``error_class``. ``ambiguous=True`` marks the cases
where Whaticket may have sent the message anyway (a 500, a read timeout): Whaticket has no
idempotency key, so a retry there can duplicate (``reliability.md`` §4.5, the ambiguity rule).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from services.core.channels.destinations import join
from services.core.channels.egress import Egress
from services.core.channels.http_errors import retry_after
from services.core.channels.whaticket.variants import (
    ALL_SESSION_DOWN_MARKERS,
    INVALID_CONTACT_MARKERS,
    SPECS,
    VariantSpec,
)
from services.core.errors import PermanentError, TransientError
from services.core.logging import get_logger
from services.core.tenants.spec import Variant

log = get_logger(__name__)

_SEPARATORS = re.compile(r"[+\s-]")
_BLANK_FIRST_LINE = re.compile(r"[^\S\n]*\n")
_JID_SUFFIXES = ("@s.whatsapp.net", "@c.us")
# E.164 caps numbers at 15 digits; v6 would treat anything longer than 17 as a group id.
_MIN_DIGITS, _MAX_DIGITS = 7, 15
_AUTH_STATUSES = frozenset({401, 403})
_ERROR_TEXT_CAP = 200


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_response: dict[str, Any] | None
    # True when Whaticket only enqueued the message (ticketz): delivery is not confirmed.
    queued: bool
    # A 2xx whose body is not the variant's success shape: still success, but worth a look.
    unexpected_body: bool = False


def normalize_number(raw: str) -> str:
    """Digits only (country code first), as every variant's number check expects."""
    text = raw.strip()
    for suffix in _JID_SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    digits = _SEPARATORS.sub("", text)
    if not (digits.isascii() and digits.isdigit() and _MIN_DIGITS <= len(digits) <= _MAX_DIGITS):
        # No echo of the value: it is a customer's phone number.
        raise PermanentError("whaticket_bad_number", "number is not a phone number in digits")
    return digits


def protect_mustache(body: str, passes: int) -> str:
    """Make ``body`` survive ``passes`` Mustache renders unchanged.

    Whaticket runs the text through mustache.js (community once, saas-classic twice), so a reply
    that contains ``{{name}}`` would be substituted, ``{{#x}}`` could swallow text and a stray
    ``{{`` can make the render throw. A leading set-delimiter tag such as ``{{=<% %>=}}`` switches
    the delimiters to ones the text does not contain, so the rest is literal. Each pass consumes
    one tag, so one tag is nested per pass, each with delimiters absent from what follows it.
    A tag alone on a line is "standalone" and Mustache drops that line's whitespace and newline,
    so a body starting with a blank line gets one sacrificial newline after the tag.
    Bodies without ``{{`` render unchanged and are left alone.
    """
    if passes <= 0 or "{{" not in body:
        return body
    protected = body
    for _ in range(passes):
        if _BLANK_FIRST_LINE.match(protected):
            protected = "\n" + protected
        opening, closing = _free_delimiters(protected)
        protected = f"{{{{={opening} {closing}=}}}}{protected}"
    return protected


def _free_delimiters(text: str) -> tuple[str, str]:
    width = 1
    while True:
        for left, right in (("<", ">"), ("[", "]")):
            opening, closing = left + "%" * width, "%" * width + right
            if opening not in text:
                return opening, closing
        width += 1


class WhaticketClient:
    """Calls ``POST {base_url}/api/messages/send``; timeouts come from the caller's client."""

    def __init__(self, http: Egress) -> None:
        self._http = http

    async def send_text(
        self, *, base_url: str, variant: Variant, token: str, number: str, body: str
    ) -> SendResult:
        spec = SPECS[variant]
        _check_token(token)
        payload = {
            "number": normalize_number(number),
            "body": protect_mustache(body, spec.mustache_passes),
        }
        try:
            url = join(base_url, "api", "messages", "send")
            response = await self._http.post(
                url, json=payload, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _transport_error(exc) from exc
        if 200 <= response.status_code < 300:
            return _success(variant, spec, response)
        raise _http_error(variant, spec, response, token)


def _check_token(token: str) -> None:
    # An empty token may match a connection whose token was never set (saas-classic default "").
    if not token or not token.isascii() or not token.isprintable() or " " in token:
        raise PermanentError("whaticket_auth", "API token is empty or malformed")


def _transport_error(exc: httpx.HTTPError | httpx.InvalidURL) -> PermanentError | TransientError:
    kind = type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return TransientError("whaticket_connect", f"cannot connect to Whaticket ({kind})")
    if isinstance(exc, httpx.PoolTimeout):
        return TransientError("whaticket_pool_timeout", "no free HTTP connection to Whaticket")
    if isinstance(exc, httpx.WriteTimeout | httpx.WriteError):
        # The request never fully left: Express cannot have parsed the body.
        return TransientError("whaticket_write", f"request to Whaticket not sent ({kind})")
    if isinstance(exc, httpx.ReadTimeout):
        return TransientError(
            "whaticket_timeout",
            "Whaticket did not answer in time; it may have sent",
            ambiguous=True,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return PermanentError("whaticket_bad_url", f"cannot build the request ({kind})")
    # Read errors, the server closing without an answer: the request went out.
    return TransientError(
        "whaticket_transport", f"Whaticket connection failed ({kind})", ambiguous=True
    )


def _success(variant: Variant, spec: VariantSpec, response: httpx.Response) -> SendResult:
    text = response.text
    parsed: dict[str, Any] | None = None
    unexpected = False
    if text.strip():
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        parsed = value if isinstance(value, dict) else {"raw": text[:_ERROR_TEXT_CAP]}
    if spec.success_body is None:
        unexpected = parsed is not None
    else:
        unexpected = parsed is None or any(parsed.get(k) != v for k, v in spec.success_body.items())
    if unexpected:
        log.warning(
            "whaticket_unexpected_success_body",
            variant=str(variant),
            status=response.status_code,
            keys=sorted(parsed) if parsed else [],
        )
    return SendResult(provider_response=parsed, queued=spec.queued, unexpected_body=unexpected)


def _http_error(
    variant: Variant, spec: VariantSpec, response: httpx.Response, token: str
) -> PermanentError | TransientError:
    status = response.status_code
    error = _error_text(response, token)  # read to classify, never stored or shown
    message = f"whaticket {variant} HTTP {status}"
    folded = error.casefold()
    if status in _AUTH_STATUSES:
        return PermanentError("whaticket_auth", message)
    if status == 400:
        if any(m.casefold() in folded for m in INVALID_CONTACT_MARKERS):
            return PermanentError("whaticket_invalid_contact", message)
        if any(m.casefold() in folded for m in ALL_SESSION_DOWN_MARKERS):
            return TransientError("whaticket_session_down", message)
        return PermanentError("whaticket_rejected", message)
    if status == 404:
        return PermanentError("whaticket_not_found", message)
    if status in (408, 429, 502, 503):
        name = "whaticket_rate_limited" if status == 429 else f"whaticket_{status}"
        return TransientError(name, message, retry_after=retry_after(response))
    if status == 500 and any(m.casefold() in folded for m in spec.unsent_500_markers):
        return TransientError("whaticket_session_down", message)
    if status >= 500:
        # 500: the crash may come after the send. 504: the proxy gave up while the backend
        # was still working on it. Either way a retry can duplicate.
        name = f"whaticket_{status}" if status in (500, 504) else "whaticket_5xx"
        return TransientError(name, message, retry_after=retry_after(response), ambiguous=True)
    if 400 <= status < 500:
        return PermanentError("whaticket_rejected", message)
    return PermanentError("whaticket_unexpected_status", message)


def _error_text(response: httpx.Response, token: str) -> str:
    """The server's ``{"error": ...}`` (or raw text), capped and with the token masked."""
    text = response.text
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        text = value["error"]
    if token:
        text = text.replace(token, "***")
    return " ".join(text.split())[:_ERROR_TEXT_CAP]
