"""A Twilio-compatible SMS API on 127.0.0.1, speaking Twilio's REST shapes.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (the SID and its
auth token) and a form body (``To``, ``From``, ``Body``) answers ``201`` with the message
resource (``sid`` "SM…" and 32 hex, ``status`` "queued", ``to``, ``from``, ``body``,
``num_segments``).
Errors are Twilio's: ``401 {"code": 20003, "message": "Authenticate", ...}``; ``400`` code 21211
for a number that is not E.164, 21617 for a body over 1600 characters; ``down`` answers 503
(Twilio's ``{"code": 20500, ...}``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from .threaded import ThreadedStandIn

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")


@dataclass(frozen=True)
class Sms:
    sid: str
    to: str
    sender: str
    body: str


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class SmsStandIn(ThreadedStandIn):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self._lock = threading.Lock()
        self._sent: list[Sms] = []
        self.down = False
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = standin._handle(self.path, self.headers.get("authorization"), form)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def _handle(
        self, path: str, authorization: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        matched = _PATH.match(path)
        if matched is None:
            return _error(404, 20404, "The requested resource was not found")
        if authorization != expected or matched["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        if self.down:
            return _error(503, 20500, "Service Unavailable")
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        sms = Sms("SM" + uuid.uuid4().hex, to, sender, body)
        with self._lock:
            self._sent.append(sms)
        return 201, {
            "sid": sms.sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": sender,
            "body": body,
            "status": "queued",
            "num_segments": str(max(1, -(-len(body) // 153))),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
        }

    @property
    def sent(self) -> list[Sms]:
        with self._lock:
            return list(self._sent)
