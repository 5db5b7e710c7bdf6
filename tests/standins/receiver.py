"""A workflow endpoint (an n8n webhook node, a CRM): records every request it is sent and
answers with the statuses a test scripts (200 by default), on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from .threaded import ThreadedStandIn


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ReceiverStandIn(ThreadedStandIn):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._statuses: deque[int] = deque()
        self.default_status = 200
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with standin._lock:
                    standin._received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    status = (
                        standin._statuses.popleft() if standin._statuses else standin.default_status
                    )
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    def respond(self, *statuses: int) -> None:
        """The next requests get these statuses, in order; then ``default_status``."""
        with self._lock:
            self._statuses.extend(statuses)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)
