"""What Redis holds of one customer, erased: the conversation's context and summary, the
handoff reminder, the contact's rate limits, the tenant's knowledge answers cache (its keys
are hashes of customers' words), the arq jobs that name their messages, handoffs, events,
workflow messages or ticket closes, and the webhooks waiting in the spool.

Run before the Postgres erasure (a spooled webhook or a queued job is gone before it could
write again) and after its commit (what a turn in flight cached meanwhile). A job already
running is left to finish: it finds its rows gone and does nothing. Key names are the ones
the modules that write them build; tests/core/privacy pins them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from services.core.channels import baileys
from services.core.errors import SchemaViolation
from services.core.inbound.spool import PENDING, LocalSpool, SpooledWebhook

from .subject import Subject

SPOOL_CLAIMS = "atende:spool:replaying:*"
JOB_KEYS = ("arq:job:", "arq:retry:", "arq:result:")
QUEUE = "arq:queue"
# The cache keys of an erasure that a turn in flight may still write, by the subject's keyed
# hash: key names (ids) only, so repeating the request can remove them once the ids are gone.
PENDING_KEYS = "atende:privacy:pending:"
PENDING_SECONDS = 86_400


@dataclass(slots=True)
class Scrubbed:
    keys: int = 0
    jobs: int = 0
    spooled: int = 0

    def add(self, other: Scrubbed) -> None:
        self.keys += other.keys
        self.jobs += other.jobs
        self.spooled += other.spooled


def cache_keys(subject: Subject) -> list[str]:
    """The keys of this customer on the cache Redis (conversations/memory.py,
    turns/answer.py, turns/pacing.py)."""
    keys = []
    for conversation in subject.conversation_ids:
        keys += [f"ctx:{conversation}", f"ctxsum:{conversation}"]
        keys.append(f"handoff:reminded:{conversation}")
    for contact in subject.contact_ids:
        bucket = f"rl:{{t{subject.tenant_id}}}:contact:{contact}"
        keys += [bucket, f"{bucket}:limited-since", f"{bucket}:noticed"]
    return keys


def job_matches(job_id: str, subject: Subject) -> bool:
    """Whether an arq job id (services/core/jobs.py) names one of this customer's rows."""
    head, _, rest = job_id.partition(":")
    number = rest.split(":", 1)[0]
    if not number.isascii() or not number.isdigit():
        return False
    owned = {
        "in": subject.inbound_ids,
        "handoff": subject.handoff_ids,
        "handoff-note": subject.handoff_ids,
        "event": subject.event_ids,
        "wmsg": subject.outbound_ids,
        "close": subject.conversation_ids,
    }.get(head, ())
    return int(number) in owned


def spooled_matches(raw: bytes, subject: Subject) -> bool:
    """Whether a spooled webhook is this customer's (their phone or a linked ``@lid``)."""
    try:
        record = SpooledWebhook.decode(raw)
        if record.tenant != subject.tenant:
            return False
        message = baileys.normalize(record.payload)
    except (ValueError, TypeError, SchemaViolation):
        return False
    if isinstance(message, baileys.Ignored):
        business = baileys.business_message(record.payload)
        people = {business.phone, business.lid} if business is not None else set()
    else:
        people = {message.phone, message.lid}
    return subject.phone in people or any(lid in people for lid in subject.lids)


def scrub_disk(directory: Path, subject: Subject) -> int:
    """This host's disk spool (``ATENDE_DATA_DIR/spool``): each waiting file is claimed by a
    rename, as a replayer claims it (its writer opens it by name for every record, so the next
    record starts a new file), and written back without the customer's records. Files a
    replayer holds (``*.replaying``) are left to it: their records reach Redis or Postgres,
    where the other passes find them."""
    if not directory.is_dir():
        return 0
    removed = 0
    for path in sorted(directory.glob("*.jsonl")):
        claimed = path.with_suffix(f".{uuid.uuid4().hex[:8]}.scrubbing")
        try:
            path.rename(claimed)
        except FileNotFoundError:
            continue  # a replayer took it
        records = LocalSpool.read(claimed)
        kept = [r for r in records if not spooled_matches(r.encode(), subject)]
        removed += len(records) - len(kept)
        if kept:
            LocalSpool(directory).rewrite(claimed, kept)
            claimed.rename(directory / f"scrubbed-{uuid.uuid4().hex[:8]}.jsonl")
        else:
            claimed.unlink()
    return removed


async def _delete(redis: Redis, keys: Iterable[str]) -> int:
    names = list(keys)
    return int(await redis.delete(*names)) if names else 0


async def _scan(redis: Redis, pattern: str) -> list[str]:
    found = []
    async for key in redis.scan_iter(match=pattern, count=1000):
        found.append(key.decode() if isinstance(key, bytes) else str(key))
    return found


async def scrub_cache(cache: Redis, subject: Subject) -> Scrubbed:
    """The cache Redis: context, summary, reminder, limits, the tenant's knowledge cache."""
    knowledge = await _scan(cache, f"atende:knowledge:{subject.tenant_id}:*")
    return Scrubbed(keys=await _delete(cache, [*cache_keys(subject), *knowledge]))


async def remember(cache: Redis, subject_hash: str, subjects: Iterable[Subject]) -> None:
    """Keep the cache keys of ``subjects`` for a repeat of the request (a turn was in flight)."""
    keys = sorted({key for subject in subjects for key in cache_keys(subject)})
    if keys:
        name = PENDING_KEYS + subject_hash
        await cache.sadd(name, *keys)  # type: ignore[misc]
        await cache.expire(name, PENDING_SECONDS)


async def scrub_remembered(cache: Redis, subject_hash: str) -> Scrubbed:
    """The keys an earlier request of this subject kept (see :func:`remember`), and the list."""
    name = PENDING_KEYS + subject_hash
    keys = [_text(key) for key in await cache.smembers(name)]  # type: ignore[misc]
    erased = await _delete(cache, keys)
    await cache.delete(name)
    return Scrubbed(keys=erased)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def scrub_queue(redis: Redis, subject: Subject) -> Scrubbed:
    """The queue Redis: jobs (queued, deferred, retrying) and spooled webhooks."""
    done = Scrubbed()
    doomed: set[str] = set()
    async for member, _ in redis.zscan_iter(QUEUE, count=1000):
        job_id = member.decode() if isinstance(member, bytes) else str(member)
        if job_matches(job_id, subject):
            doomed.add(job_id)
    for prefix in JOB_KEYS:
        for key in await _scan(redis, prefix + "*"):
            if job_matches(key.removeprefix(prefix), subject):
                doomed.add(key.removeprefix(prefix))
    if doomed:
        await redis.zrem(QUEUE, *doomed)
        done.jobs = len(doomed)
        done.keys += await _delete(redis, [p + job for job in doomed for p in JOB_KEYS])
    for name in [PENDING, *await _scan(redis, SPOOL_CLAIMS)]:
        for raw in await redis.lrange(name, 0, -1):  # type: ignore[misc]
            if spooled_matches(raw, subject):
                done.spooled += int(await redis.lrem(name, 0, raw))  # type: ignore[misc]
    return done
