"""Meta's Graph API send endpoint on 127.0.0.1, as the Cloud API answers it.

``POST /{version}/{phone_number_id}/messages`` with ``Authorization: Bearer <token>`` and a
JSON text message answers ``200 {"messaging_product": "whatsapp", "contacts": [{"input",
"wa_id"}], "messages": [{"id": "wamid.…"}]}``. Errors are Graph errors: a wrong token is
``401 {"error": {"code": 190, "type": "OAuthException", …}}``; ``window_closed`` answers
``400`` code 131047 (more than 24 hours since the customer wrote); ``down`` answers ``500``
code 131000.

Also builds what Meta posts to a webhook: signed notifications with messages and statuses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from .threaded import ThreadedStandIn


def _error(status: int, code: int, message: str, kind: str = "OAuthException") -> tuple[int, Any]:
    return status, {
        "error": {
            "message": message,
            "type": kind,
            "code": code,
            "fbtrace_id": "A" + uuid.uuid4().hex[:22],
        }
    }


class GraphStandIn(ThreadedStandIn):
    def __init__(self, phone_number_id: str, access_token: str) -> None:
        self.phone_number_id, self.access_token = phone_number_id, access_token
        self._lock = threading.Lock()
        self._sent: list[dict[str, Any]] = []
        self.window_closed = False
        self.down = False
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                status, body = standin._handle(self.path, self.headers.get("authorization"), raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def _handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if len(parts) != 3 or parts[1] != self.phone_number_id or parts[2] != "messages":
            return _error(400, 100, "Unsupported post request.", "GraphMethodException")
        if authorization != f"Bearer {self.access_token}":
            return _error(401, 190, "Error validating access token: Session has expired.")
        body = json.loads(raw)
        if body.get("messaging_product") != "whatsapp" or body.get("type") != "text":
            return _error(400, 100, "Invalid parameter", "OAuthException")
        if self.down:
            return _error(500, 131000, "Something went wrong")
        if self.window_closed:
            return _error(400, 131047, "Re-engagement message")
        wamid = "wamid." + base64.b64encode(uuid.uuid4().bytes).decode()
        with self._lock:
            self._sent.append({"to": body["to"], "text": body["text"]["body"], "id": wamid})
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }

    @property
    def sent(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sent)


def notification(phone_number_id: str, *changes: dict[str, Any]) -> dict[str, Any]:
    """A webhook body as Meta batches it: one entry per change here, for the WABA."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": phone_number_id,
                            },
                            **change,
                        },
                    }
                ],
            }
            for change in changes
        ],
    }


def text_message(wa_id: str, body: str, name: str = "Maria") -> dict[str, Any]:
    return {
        "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": "wamid." + base64.b64encode(uuid.uuid4().bytes).decode(),
                "timestamp": str(int(time.time())),
                "type": "text",
                "text": {"body": body},
            }
        ],
    }


def status_update(wamid: str, status: str, wa_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(time.time())),
        "recipient_id": wa_id,
    }
    if status == "failed":
        entry["errors"] = [{"code": 131026, "title": "Message undeliverable"}]
    return {"statuses": [entry]}


def signed(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "content-type": "application/json"}
