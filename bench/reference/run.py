"""Start and stop the reference stack's processes (by PID), and seed a backlog for its worker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from psycopg.types.json import Jsonb
from redis import Redis
from rq import Queue

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def webhook_server(env: dict[str, str], port: int, log: Path, workers: int = 2) -> Iterator[str]:
    """gunicorn with ``workers`` sync workers serving the Flask webhook; yields its base URL."""
    args = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    with _process([*args, "bench.reference.webhook:app"], env, log) as proc:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not come up: see {log}") from None
                time.sleep(0.2)
        yield url


@contextmanager
def rq_worker(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One RQ worker on queue ``ref``, forking a work-horse per job as RQ does by default."""
    args = [sys.executable, "-m", "rq.cli", "worker", "ref", "--url", env["REF_REDIS_URL"]]
    with _process(args, env, log) as proc:
        yield proc


def enqueue_backlog(env: dict[str, str], count: int) -> None:
    """``count`` stored messages from distinct customers of tenant ``drain``, each with its job."""
    queue = Queue("ref", connection=Redis.from_url(env["REF_REDIS_URL"]))
    run = time.time_ns()
    with psycopg.connect(env["REF_DATABASE_URL"]) as db:
        (tenant_id,) = db.execute("SELECT id FROM ref_tenants WHERE slug = 'drain'").fetchone() or (
            0,
        )
        ids = []
        for i in range(count):
            phone = str(5551900000000 + i)
            contact = db.execute(
                "INSERT INTO ref_contacts (tenant_id, phone) VALUES (%s, %s) ON CONFLICT"
                " (tenant_id, phone) DO UPDATE SET phone = excluded.phone RETURNING id",
                (tenant_id, phone),
            ).fetchone()
            assert contact is not None
            text = "Qual o prazo de entrega?"
            payload = {"key": {"remoteJid": f"{phone}@s.whatsapp.net", "id": f"R{run}-{i}"},
                       "message": {"conversation": text}}  # fmt: skip
            message = db.execute(
                "INSERT INTO ref_messages (tenant_id, contact_id, provider_msg_id, text, payload)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (tenant_id, contact[0], f"R{run}-{i}", text, Jsonb(payload)),
            ).fetchone()
            assert message is not None
            ids.append(message[0])
    for message_id in ids:
        queue.enqueue("bench.reference.tasks.answer", message_id)


def clear_queue(env: dict[str, str]) -> None:
    """Drop the jobs a bounded run left behind, so the next run starts from an empty queue."""
    Redis.from_url(env["REF_REDIS_URL"]).delete("rq:queue:ref")  # RQ's list of waiting job ids
