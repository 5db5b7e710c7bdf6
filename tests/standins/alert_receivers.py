"""Where Alertmanager delivers: a Slack incoming webhook and PagerDuty's Events API v2, on
127.0.0.1, checking the payloads as the real services do and recording what they accept.

- Slack (https://api.slack.com/messaging/webhooks, "Handling errors"): POST JSON to the
  webhook's secret path; ``200 ok``; ``400 invalid_payload`` for a body that is not a JSON
  object, ``400 no_text`` without ``text``, ``blocks`` or ``attachments``; ``404 no_service``
  for a path that is not a webhook.
- PagerDuty (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and
  .../resolve-events/): POST ``/v2/enqueue``; ``202 {"status": "success", "message": "Event
  processed", "dedup_key": …}``; ``400 {"status": "invalid event", "message": "Event object is
  invalid", "errors": […]}`` when ``routing_key`` is not a 32-character integration key,
  ``event_action`` is not trigger/acknowledge/resolve, or a trigger's ``payload`` lacks
  ``summary`` (at most 1024 characters), ``source`` or a ``severity`` of critical, error,
  warning or info; acknowledge and resolve need a ``dedup_key``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from .threaded import ThreadedStandIn

Answer = tuple[int, str, bytes]  # status, content type, body
SEVERITIES = {"critical", "error", "warning", "info"}
ACTIONS = {"trigger", "acknowledge", "resolve"}


class _JsonReceiver(ThreadedStandIn):
    """Records the JSON objects ``check`` accepts; ``check`` answers every POST."""

    def __init__(self, check: Callable[[str, Any], Answer]) -> None:
        self._lock = threading.Lock()
        self._accepted: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                status, content_type, answer = check(self.path, body)
                if status < 300:
                    with receiver._lock:
                        receiver._accepted.append(body)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(Handler)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._accepted)


class SlackWebhookStandIn(_JsonReceiver):
    PATH = "/services/T0ATENDE0/B0ALERTS0/e2eWebhookSecret0000000"

    def __init__(self) -> None:
        super().__init__(self._check)

    @property
    def webhook_url(self) -> str:
        return self.url + self.PATH

    def _check(self, path: str, body: Any) -> Answer:
        if path != self.PATH:
            return 404, "text/html", b"no_service"
        if not isinstance(body, dict):
            return 400, "text/html", b"invalid_payload"
        if not (body.get("text") or body.get("blocks") or body.get("attachments")):
            return 400, "text/html", b"no_text"
        return 200, "text/html", b"ok"


class PagerDutyStandIn(_JsonReceiver):
    def __init__(self) -> None:
        super().__init__(self._check)

    @property
    def events_url(self) -> str:
        return self.url + "/v2/enqueue"

    def _check(self, path: str, body: Any) -> Answer:
        if path != "/v2/enqueue":
            return 404, "application/json", b'{"status": "not found"}'
        errors = _event_errors(body)
        if errors:
            answer = {"status": "invalid event", "message": "Event object is invalid"}
            return 400, "application/json", json.dumps(answer | {"errors": errors}).encode()
        dedup = body.get("dedup_key") or uuid.uuid4().hex
        answer = {"status": "success", "message": "Event processed", "dedup_key": dedup}
        return 202, "application/json", json.dumps(answer).encode()


def _event_errors(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Event object must be a JSON object."]
    errors = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("'routing_key' must be a 32 character integration key.")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve.")
    if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
        errors.append("'dedup_key' is required for acknowledge and resolve.")
    if action == "trigger":
        payload = body.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object."]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' must be 1 to 1024 characters.")
        if not payload.get("source"):
            errors.append("'payload.source' is missing or blank.")
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' must be critical, error, warning or info.")
    return errors
