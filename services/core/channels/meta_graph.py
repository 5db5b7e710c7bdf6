"""Replies through the WhatsApp Cloud API (Meta's Graph API).

``POST {graphUrl}/{version}/{phoneNumberId}/messages`` with the access token as a bearer and
``{"messaging_product": "whatsapp", "to": <wa_id>, "type": "text", "text": {"body": …}}``;
200 with ``messages[0].id`` (the ``wamid`` later statuses refer to). Errors are Graph errors,
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``: 190 is an expired or
revoked token; 131047 means the 24-hour customer service window closed (only templates may be
sent); 130429, 131048 and 131056 are rate limits; 1, 2 and 131000 are Meta-side trouble.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.core.channels.destinations import join
from services.core.channels.egress import Egress
from services.core.channels.http_errors import json_object, transport_error
from services.core.errors import DependencyError, PermanentError, TransientError
from services.core.tenants.spec import MetaSpec

MAX_TEXT_CHARS = 4096  # the Cloud API's text body limit
_RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056})
_META_TROUBLE = frozenset({1, 2, 131000})


class CloudApiClient:
    def __init__(self, http: Egress) -> None:
        self._http = http

    async def send_text(
        self, config: MetaSpec, token: str, *, to: str, body: str
    ) -> dict[str, Any]:
        """The sent message's ``wamid`` (``{"wamid": …}``)."""
        if not token:
            raise PermanentError("meta_auth", "no Cloud API access token")
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": body[:MAX_TEXT_CHARS]},
        }
        try:
            url = join(config.graph_url, config.api_version, config.phone_number_id, "messages")
            response = await self._http.post(
                url, json=payload, headers={"Authorization": f"Bearer {token}"}
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise transport_error(exc, "meta", "the Graph API") from exc
        data = json_object(response)
        if response.status_code == 200:
            messages = data.get("messages")
            wamid = messages[0].get("id") if isinstance(messages, list) and messages else None
            return {"wamid": wamid}
        raise _graph_error(response.status_code, data)


def _graph_error(status: int, data: dict[str, Any]) -> DependencyError:
    found = data.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = error.get("code")
    # Graph codes are Meta's documented numbers; the message text is never kept.
    detail = f"Graph API HTTP {status}: code {code if isinstance(code, int) else '-'}"
    if code == 190 or (status in (401, 403) and code not in _RATE_LIMITED):
        return PermanentError("meta_auth", detail)
    if code == 131047:
        return PermanentError("meta_window_closed", detail)
    if code in _RATE_LIMITED or status == 429:
        return TransientError("meta_rate_limited", detail)
    if code in _META_TROUBLE or status >= 500:
        return TransientError("meta_5xx", detail, ambiguous=status >= 500)
    return PermanentError("meta_rejected", detail)
