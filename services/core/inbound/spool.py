"""Webhooks taken while they cannot be stored in Postgres, kept until they can.

Whaticket never retries a webhook, so answering 5xx would lose the message. The request is kept
here instead and replayed once storing works again. Where it waits:

1. The queue Redis (one list, ``atende:spool``). The chart runs that Redis persistent
   (``appendonly yes``, ``noeviction``), so a record outlives the api pod that took it: a pod
   deleted during a Postgres outage loses nothing, and any api process replays the list.
2. This pod's disk (``ATENDE_DATA_DIR/spool``, fsync'd), only when Redis is unreachable too. It
   is lost if the pod is deleted before it is replayed, so it is exported
   (``atende_spool_files``) and shown in ``/readyz``; the next replay round moves it to Redis.

A replayer claims one record at a time by ``LMOVE`` into its own processing list and keeps a
key that expires while it lives: the list of a replayer that died mid-record is moved back by
the next round of any other one. Replays are idempotent (the unique message id drops what was
already stored), so a record replayed twice costs nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.core.logging import database_error_text, get_logger, is_database_error
from services.core.metrics import SPOOL_LOCAL, SPOOL_PENDING, SPOOL_REPLAY_FAILURES

log = get_logger(__name__)
PENDING = "atende:spool"
REPLAYERS = "atende:spool:replayers"
_PROCESSING = "atende:spool:replaying:"  # + replayer id
_ALIVE = "atende:spool:alive:"  # + replayer id, expires
ALIVE_SECONDS = 60
Where = Literal["redis", "local"]


@dataclass(frozen=True, slots=True)
class SpooledWebhook:
    tenant: str
    connection: str
    payload: dict[str, Any]
    correlation_id: str
    # Set when the request could not be authenticated yet (Postgres down, tenant not cached):
    # the SHA-256 of the offered secret, checked at replay. The secret itself is never written.
    secret_hash: str | None = None

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> SpooledWebhook:
        return cls(**json.loads(raw))


async def _reply[T](reply: Awaitable[T] | T) -> T:
    """redis-py types each command for its sync and asyncio clients at once; this is asyncio."""
    return await reply if inspect.isawaitable(reply) else reply


def describe(exc: BaseException) -> dict[str, str]:
    """An unexpected failure for the log: its class and where it was raised, never its text
    (a database error's text carries the statement's parameters: a customer's message)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    cause = exc.__cause__ or exc.__context__
    found = {"error": type(exc).__name__, "where": where}
    if is_database_error(exc):  # its SQLSTATE and the schema's names
        found["database_error"] = database_error_text(exc)
    if cause is not None:
        found["cause"] = type(cause).__name__
    return found


# True: done with (stored, a duplicate, or refused); False: storing still fails for want of
# Postgres, keep it and stop for now. An exception: this record failed, keep it and go on.
Replay = Callable[[SpooledWebhook], Awaitable[bool]]


@dataclass(slots=True)
class Round:
    replayed: int = 0
    failed: int = 0


class LocalSpool:
    """The last resort: one fsync'd JSON-lines file per process; a replayer claims a file by
    renaming it, so two replayers never process the same records."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"

    def append(self, record: SpooledWebhook) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / self._name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, record.encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)

    def rewrite(self, path: Path, records: list[SpooledWebhook]) -> None:
        """Replace a claimed file's records at once (never two copies on disk)."""
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(b"".join(record.encode() + b"\n" for record in records))
        with temporary.open("rb") as file:
            os.fsync(file.fileno())
        os.replace(temporary, path)

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
        """Records waiting on this disk."""
        if not self.directory.is_dir():
            return 0
        total = 0
        for path in [*self.directory.glob("*.jsonl"), *self.directory.glob("*.replaying")]:
            try:
                total += len(self.read(path))
            except FileNotFoundError:
                continue
        return total

    @staticmethod
    def read(path: Path) -> list[SpooledWebhook]:
        records = []
        for line in path.read_text().splitlines():
            if line.strip():
                try:
                    records.append(SpooledWebhook.decode(line))
                except (ValueError, TypeError):
                    continue  # a torn last line from a crash mid-write
        return records


class Spool:
    """The Redis spool, with this pod's disk behind it."""

    def __init__(self, redis: aioredis.Redis, directory: Path) -> None:
        self._redis = redis
        self.local = LocalSpool(directory)
        self.replayer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._processing = _PROCESSING + self.replayer

    async def append(self, record: SpooledWebhook) -> Where:
        try:
            await _reply(self._redis.rpush(PENDING, record.encode()))
        except (RedisError, OSError) as exc:
            log.error("spool.local_fallback", error=type(exc).__name__)
            self.local.append(record)
            SPOOL_LOCAL.set(self.local.pending())
            return "local"
        return "redis"

    async def pending(self) -> int:
        """Records waiting in Redis (the shared list and this replayer's claim)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(PENDING)
            pipe.llen(self._processing)
            waiting, claimed = await pipe.execute()
        return int(waiting) + int(claimed)

    async def replay(self, replay: Replay) -> Round:
        """One round: this disk's records first (into Redis, or straight to Postgres while
        Redis is down), then what waits in Redis. Stops at the first sign Postgres is still
        down; a record that fails otherwise goes to the back of the list and the round goes on."""
        done = Round()
        try:
            if await self._drain_local(replay, done):
                await self._replay_redis(replay, done)
        finally:
            SPOOL_LOCAL.set(self.local.pending())
            with contextlib.suppress(RedisError, OSError):  # Redis down: the last value stays
                SPOOL_PENDING.set(await self.pending())
        return done

    async def release(self) -> None:
        """At shutdown: what this replayer holds goes back to the list, for the others now."""
        while await self._redis.lmove(self._processing, PENDING, "RIGHT", "LEFT") is not None:
            pass
        await _reply(self._redis.srem(REPLAYERS, self.replayer))
        await self._redis.delete(_ALIVE + self.replayer)

    async def _drain_local(self, replay: Replay, done: Round) -> bool:
        """False when the round must stop (Postgres and Redis both down)."""
        for path in self.local.claim():
            try:
                records = LocalSpool.read(path)
            except FileNotFoundError:  # another replayer finished it
                continue
            try:
                if records:
                    await _reply(self._redis.rpush(PENDING, *(r.encode() for r in records)))
            except (RedisError, OSError):
                left = await self._replay_directly(records, replay, done)
                if left:  # Postgres is still down: the rest stays here, claimed next round
                    if left != records:
                        self.local.rewrite(path, left)
                    return False
            path.unlink(missing_ok=True)
        return True

    async def _replay_directly(
        self, records: list[SpooledWebhook], replay: Replay, done: Round
    ) -> list[SpooledWebhook]:
        """Redis is down: straight to Postgres. Returns what is left to keep."""
        kept: list[SpooledWebhook] = []
        for index, record in enumerate(records):
            try:
                stored = await replay(record)
            except Exception as exc:
                self._failed(done, exc)
                kept.append(record)
                continue
            if not stored:
                return kept + records[index:]
            done.replayed += 1
        return kept

    async def _replay_redis(self, replay: Replay, done: Round) -> None:
        await self._announce()
        await self._recover_orphans()
        # Each record at most once per round: one that keeps failing goes to the back.
        for _ in range(await _reply(self._redis.llen(PENDING))):
            raw = await self._redis.lmove(PENDING, self._processing, "LEFT", "RIGHT")
            if raw is None:
                return
            try:
                stored = await replay(SpooledWebhook.decode(raw))
            except Exception as exc:
                self._failed(done, exc)
                await self._redis.lmove(self._processing, PENDING, "LEFT", "RIGHT")
                continue
            if not stored:  # Postgres is still down: first in line again, for the next round
                await self._redis.lmove(self._processing, PENDING, "LEFT", "LEFT")
                return
            await _reply(self._redis.lpop(self._processing))
            done.replayed += 1
            await self._announce()

    def _failed(self, done: Round, exc: Exception) -> None:
        log.error("spool.replay_failed", **describe(exc))
        SPOOL_REPLAY_FAILURES.inc()
        done.failed += 1

    async def _announce(self) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_ALIVE + self.replayer, b"1", ex=ALIVE_SECONDS)
            pipe.sadd(REPLAYERS, self.replayer)
            await pipe.execute()

    async def _recover_orphans(self) -> None:
        """Replayers whose key expired died mid-record: their claims go back to the list."""
        for member in await _reply(self._redis.smembers(REPLAYERS)):
            other = member.decode() if isinstance(member, bytes) else str(member)
            if other == self.replayer or await self._redis.exists(_ALIVE + other):
                continue
            moved = 0
            while (
                await self._redis.lmove(_PROCESSING + other, PENDING, "RIGHT", "LEFT") is not None
            ):
                moved += 1
            await _reply(self._redis.srem(REPLAYERS, other))
            if moved:
                log.warning("spool.orphans_recovered", replayer=other, records=moved)
