"""A local, fsync'd spool for webhooks that arrive while Postgres is unreachable.

Whaticket never retries a webhook, so answering 5xx would lose the message. Instead the raw
request is appended to a file in ``ATENDE_DATA_DIR/spool`` and replayed into Postgres once it is
back. Each process writes its own file; a replayer claims a file by renaming it, so two replayers
never process the same records.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class SpooledWebhook:
    tenant: str
    connection: str
    payload: dict[str, Any]
    correlation_id: str
    # Set when the request could not be authenticated yet (Postgres down, tenant not cached):
    # the SHA-256 of the offered secret, checked at replay. The secret itself is never written.
    secret_hash: str | None = None


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"

    def append(self, record: SpooledWebhook) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(record), separators=(",", ":")) + "\n"
        fd = os.open(self.directory / self._name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def writable(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.directory, os.W_OK)

    def claim(self) -> Iterator[Path]:
        """Files waiting for replay, each renamed to ``*.replaying`` for this caller."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.jsonl")):
            claimed = path.with_suffix(f".{uuid.uuid4().hex[:8]}.replaying")
            try:
                path.rename(claimed)
            except FileNotFoundError:
                continue  # another replayer took it
            yield claimed
        # Files a crashed replayer left behind are claimed again.
        yield from sorted(self.directory.glob("*.replaying"))

    def pending(self) -> int:
        if not self.directory.is_dir():
            return 0
        return sum(1 for _ in self.directory.glob("*.jsonl")) + sum(
            1 for _ in self.directory.glob("*.replaying")
        )

    @staticmethod
    def read(path: Path) -> list[SpooledWebhook]:
        records = []
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    records.append(SpooledWebhook(**json.loads(line)))
                except (ValueError, TypeError):
                    continue  # a torn last line from a crash mid-write
        return records
