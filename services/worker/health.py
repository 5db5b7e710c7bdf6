"""The worker's ``/healthz``, served beside ``/metrics``: alive means its loops still turn.

prometheus_client answers ``/metrics`` from its own thread, whatever the event loop does, so a
worker whose loop is blocked (a synchronous call in a job) or whose job loop hangs (a Redis call
that never returns) looked alive and was never restarted. Here a task on the event loop stamps a
heartbeat every second, and arq's poll loop stamps another on each iteration
(:meth:`arq.worker.Worker.heart_beat` ends every ``_poll_iteration``, also while draining on
SIGTERM). The HTTP thread only reads the two stamps, so it keeps answering — 503 — while the
loop is stuck.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

BEAT_SECONDS = 1.0
# Connecting to Redis and on_startup come before the first stamps.
STARTUP_SECONDS = 60.0

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass
class Health:
    stall_seconds: float
    started: float = field(default_factory=time.monotonic)
    loop_beat: float | None = None
    job_poll: float | None = None

    def polled(self) -> None:
        self.job_poll = time.monotonic()

    async def beat_forever(self) -> None:
        while True:
            self.loop_beat = time.monotonic()
            await asyncio.sleep(BEAT_SECONDS)

    def check(self) -> tuple[bool, str]:
        """(healthy, reason); read from the HTTP thread, written only by the loop."""
        now = time.monotonic()
        if self.loop_beat is None or self.job_poll is None:
            waited = now - self.started
            if waited > STARTUP_SECONDS:
                return False, f"not started after {waited:.0f}s"
            return True, "starting"
        for what, stamp in (("event loop", self.loop_beat), ("job loop", self.job_poll)):
            age = now - stamp
            if age > self.stall_seconds:
                return False, f"{what} stalled for {age:.0f}s"
        return True, "ok"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not news."""


def _app(health: Health) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        healthy, reason = health.check()
        status = "200 OK" if healthy else "503 Service Unavailable"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [f"{reason}\n".encode()]

    return app


def serve(health: Health, port: int, addr: str = "0.0.0.0") -> WSGIServer:  # noqa: S104
    """``/healthz`` and ``/metrics`` on ``port`` from a daemon thread, like prometheus_client's
    own ``start_http_server``."""
    _Server.address_family = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM)[0][0]
    try:
        server = make_server(addr, port, _app(health), _Server, handler_class=_Quiet)
    except OSError as exc:
        reason = f"cannot serve /metrics and /healthz on port {port} (ATENDE_WORKER_METRICS_PORT)"
        raise OSError(exc.errno, f"{reason}: {exc.strerror}") from None
    threading.Thread(target=server.serve_forever, name="worker-http", daemon=True).start()
    return server
