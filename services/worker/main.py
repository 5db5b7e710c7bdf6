"""The arq worker process: turn, handoff, event and workflow-action jobs, the sweeper, the
redelivery of replies waiting for a connection, the handoff watcher and the event dispatcher,
/metrics and /healthz (health.py).

On SIGTERM arq stops taking jobs and waits for the ones in flight; what is still running when
the grace (ATENDE_WORKER_SHUTDOWN_GRACE_SECONDS, the pod's terminationGracePeriodSeconds) is
nearly spent is cancelled, which hands it back: arq leaves a cancelled job in the queue and
drops its in-progress key, and the turn releases its conversation lease on the way out, so
another worker takes it at once. A turn cancelled before its reply was stored is generated
again there; one cancelled after, only re-sent (see turns/runner.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

import uvloop
from arq import cron, func
from arq.worker import Worker
from redis.exceptions import RedisError

from services.core import db_roles, jobs
from services.core.config import Settings, get_settings
from services.core.logging import configure_logging, get_logger
from services.core.redis import create_redis, deserialize_job, redis_settings, serialize_job

from .context import build_runtime, typed
from .health import Health, serve
from .tasks.events import deliver_event, dispatch_forever
from .tasks.handoffs import post_handoff_note, transfer_handoff, watch_forever
from .tasks.knowledge import embed_knowledge
from .tasks.outbound import close_ticket, send_workflow_message
from .tasks.redelivery import redeliver_forever
from .tasks.retention import enforce_retention
from .tasks.sweeper import sweep_forever
from .tasks.turns import process_inbound

log = get_logger(__name__)
# A job covers debounce, one model call and one send; the lease (renewed) guards the rest.
JOB_TIMEOUT_SECONDS = 180
# Kept from the shutdown grace for cancelling what still runs, handing it back and closing.
HAND_BACK_SECONDS = 10.0


class AtendeWorker(Worker):
    """arq's worker, stamping the job loop's heartbeat and saying when it drains."""

    def __init__(self, *args: Any, health: Health, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.health = health
        self.on_stop = self._handing_back

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq reads the queue's due jobs, the ones this worker is running among them (a job
        leaves the queue when it finishes), and spends three Redis round trips on each to find
        it in progress. Those already running here are left out first, for free."""
        running = self.tasks
        await super().start_jobs([j for j in job_ids if j.decode() not in running])

    async def heart_beat(self) -> None:
        await super().heart_beat()
        self.health.polled()

    def handle_sig_wait_for_completion(self, signum: signal.Signals) -> None:
        log.info(
            "worker.draining",
            signal=signal.Signals(signum).name,
            in_flight=len(self.tasks),
            wait_seconds=self._job_completion_wait,
        )
        super().handle_sig_wait_for_completion(signum)

    def _handing_back(self, signum: signal.Signals) -> None:
        """arq calls this once it cancelled what was still running (if anything)."""
        log.info("worker.stopping", handed_back=sum(not t.done() for t in self.tasks.values()))


def drain_seconds(grace: float) -> float:
    """How long in-flight jobs may run on after SIGTERM: the grace less the hand-back time
    (a quarter of a short grace)."""
    return max(grace - min(HAND_BACK_SECONDS, grace / 4), 0.0)


async def on_startup(ctx: dict[str, Any]) -> None:
    context = typed(ctx)
    settings = context["settings"]
    runtime = context["runtime"] = build_runtime(settings)
    context["background"] = [
        asyncio.create_task(context["health"].beat_forever()),
        asyncio.create_task(sweep_forever(runtime)),
        asyncio.create_task(redeliver_forever(runtime)),
        asyncio.create_task(watch_forever(runtime)),
        asyncio.create_task(dispatch_forever(runtime)),
        # Tenant changes reach the next turn within moments (TTL fallback while Redis is down).
        asyncio.create_task(runtime.tenants.follow_changes(settings.redis_url)),
        asyncio.create_task(db_roles.check_runtime_role(runtime.sessionmaker)),
    ]
    log.info("worker.started", max_jobs=settings.worker_max_jobs)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    context = typed(ctx)
    for task in context.get("background", []):
        task.cancel()
    if "runtime" in context:
        runtime = context["runtime"]
        await runtime.gemini.aclose_all()
        await runtime.http.aclose()
        await runtime.egress.aclose()
        await runtime.redis.aclose()
        if runtime.cache_redis is not None:
            await runtime.cache_redis.aclose()


def health_check_key() -> str:
    """Per pod (hostname), so a liveness probe checks this worker, not any worker."""
    return f"arq:health:{socket.gethostname()}"


def create_worker(settings: Settings, health: Health | None = None) -> AtendeWorker:
    health = health or Health(settings.worker_stall_seconds)
    return AtendeWorker(
        functions=[
            func(process_inbound, name=jobs.PROCESS_INBOUND, max_tries=1000),
            func(transfer_handoff, name=jobs.TRANSFER_HANDOFF, max_tries=100),
            func(post_handoff_note, name=jobs.POST_HANDOFF_NOTE, max_tries=100),
            # Retries are the delivery's own backoff schedule, kept in Postgres.
            func(deliver_event, name=jobs.DELIVER_EVENT, max_tries=1),
            func(send_workflow_message, name=jobs.SEND_WORKFLOW_MESSAGE, max_tries=100),
            func(close_ticket, name=jobs.CLOSE_TICKET, max_tries=100),
            # Backed off up to 5 minutes a try; the sweeper picks up what runs out of tries.
            func(embed_knowledge, name=jobs.EMBED_KNOWLEDGE, max_tries=20),
        ],
        # spec.retention, every five minutes; arq runs each tick once across the workers.
        cron_jobs=[cron(enforce_retention, name="retention", minute=set(range(0, 60, 5)))],
        redis_settings=redis_settings(settings.redis_url),
        redis_pool=create_redis(settings.redis_url),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        ctx={"settings": settings, "health": health},
        max_jobs=settings.worker_max_jobs,
        job_timeout=JOB_TIMEOUT_SECONDS,
        keep_result=0,
        job_completion_wait=drain_seconds(settings.worker_shutdown_grace_seconds),
        poll_delay=0.1,
        health_check_interval=10,
        health_check_key=health_check_key(),
        allow_abort_jobs=False,
        handle_signals=True,
        health=health,
    )


def run(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    # The event loop uvicorn gives the api; arq picks up whatever loop is current.
    asyncio.set_event_loop(uvloop.new_event_loop())
    configure_logging(settings.log_format, settings.log_level)
    health = Health(settings.worker_stall_seconds)
    if settings.worker_metrics_port:
        serve(health, settings.worker_metrics_port)
    started = False
    while True:
        worker = create_worker(settings, health)
        try:
            worker.run()
            break
        except (RedisError, OSError) as exc:
            started = started or "runtime" in worker.ctx
            if not started:
                # Redis never answered: one line from the CLI, and the kubelet's restart.
                raise
            # arq's job start WATCHes a key outside its own error handling: a Redis restart at
            # that moment ends its loop. The jobs stay in Redis; start again once it answers.
            log.warning("worker.redis_lost_restarting", error=type(exc).__name__)
            time.sleep(1.0)
            asyncio.set_event_loop(uvloop.new_event_loop())
    log.info("worker.stopped")
    # Everything is closed. The interpreter's own teardown of this import graph takes seconds
    # on a busy node, seconds the shutdown grace should not spend.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
