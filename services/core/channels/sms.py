"""SMS through a Twilio-compatible API, the first fallback channel.

``POST {url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (the account
SID and its auth token) and form fields ``To``, ``From`` and ``Body``; ``201`` with the message
resource (``sid``, ``status``). Errors are ``{"code", "message", "status"}``: 401 for bad
credentials, 400 for a refused number or body, 429 when throttled. The API has no idempotency
key, so a request whose answer was lost is an ambiguous send, as with Whaticket.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.core.channels.destinations import join
from services.core.channels.egress import Egress
from services.core.channels.http_errors import json_object, retry_after, transport_error
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.tenants.spec import SmsFallback

MAX_SMS_CHARS = 1600  # longer bodies are refused (Twilio error 21617)


def clip(text: str) -> str:
    return text if len(text) <= MAX_SMS_CHARS else text[: MAX_SMS_CHARS - 1] + "…"


class SmsClient:
    def __init__(self, http: Egress) -> None:
        self._http = http

    async def send(self, config: SmsFallback, token: str, *, to: str, body: str) -> dict[str, Any]:
        """Send ``body`` to the digits ``to`` (country code first); the gateway's message id."""
        if not token:
            raise PermanentError("sms_auth", "no SMS auth token")
        form = {"To": "+" + to.lstrip("+"), "From": config.from_number, "Body": clip(body)}
        try:
            url = join(config.url, "2010-04-01", "Accounts", config.account_sid, "Messages.json")
            response = await self._http.post(url, data=form, auth=(config.account_sid, token))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(exc, "sms", "the SMS API") from exc
        if 200 <= response.status_code < 300:
            resource = json_object(response)
            return {"sid": resource.get("sid"), "status": resource.get("status")}
        raise _http_error(response)


def _http_error(response: httpx.Response) -> DependencyError:
    status = response.status_code
    error = json_object(response)
    # The gateway's code is a number from its documented list; its message is never kept.
    code = error.get("code")
    detail = f"SMS API HTTP {status}: code {code if isinstance(code, int) else '-'}"
    if status in (401, 403):
        return PermanentError("sms_auth", detail)
    if status == 429:
        return TransientError("sms_rate_limited", detail, retry_after=retry_after(response))
    if status >= 500:  # the gateway may have queued it before failing
        return TransientError("sms_5xx", detail, ambiguous=True)
    return PermanentError("sms_rejected", detail)
