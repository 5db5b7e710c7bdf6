"""The arq worker process: turn, handoff, event and workflow-action jobs, the sweeper, the
handoff watcher and the event dispatcher, /metrics."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvloop
from arq import func
from arq.worker import Worker
from prometheus_client import start_http_server

from services.core import jobs
from services.core.config import Settings, get_settings
from services.core.logging import configure_logging, get_logger
from services.core.redis import create_redis, deserialize_job, redis_settings, serialize_job

from .context import build_deps
from .tasks.events import deliver_event, dispatch_forever
from .tasks.handoffs import transfer_handoff, watch_forever
from .tasks.outbound import close_ticket, send_workflow_message
from .tasks.sweeper import sweep_forever
from .tasks.turns import process_inbound

log = get_logger(__name__)
# A job covers debounce, one model call and one send; the lease (renewed) guards the rest.
JOB_TIMEOUT_SECONDS = 180


async def on_startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    deps, http = build_deps(settings)
    ctx["deps"], ctx["http"] = deps, http
    ctx["background"] = [
        asyncio.create_task(sweep_forever(deps)),
        asyncio.create_task(watch_forever(deps)),
        asyncio.create_task(dispatch_forever(deps)),
        # Tenant changes reach the next turn within moments (TTL fallback while Redis is down).
        asyncio.create_task(deps.tenants.follow_changes(settings.redis_url)),
    ]
    log.info("worker.started", max_jobs=settings.worker_max_jobs)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    for task in ctx.get("background", []):
        task.cancel()
    if "deps" in ctx:
        await ctx["deps"].gemini.aclose_all()
        await ctx["http"].aclose()
        await ctx["deps"].redis.aclose()
        if ctx["deps"].cache_redis is not None:
            await ctx["deps"].cache_redis.aclose()


def health_check_key() -> str:
    """Per pod (hostname), so a liveness probe checks this worker, not any worker."""
    return f"arq:health:{socket.gethostname()}"


def create_worker(settings: Settings) -> Worker:
    return Worker(
        functions=[
            func(process_inbound, name=jobs.PROCESS_INBOUND, max_tries=1000),
            func(transfer_handoff, name=jobs.TRANSFER_HANDOFF, max_tries=100),
            # Retries are the delivery's own backoff schedule, kept in Postgres.
            func(deliver_event, name=jobs.DELIVER_EVENT, max_tries=1),
            func(send_workflow_message, name=jobs.SEND_WORKFLOW_MESSAGE, max_tries=100),
            func(close_ticket, name=jobs.CLOSE_TICKET, max_tries=100),
        ],
        redis_settings=redis_settings(settings.redis_url),
        redis_pool=create_redis(settings.redis_url),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        ctx={"settings": settings},
        max_jobs=settings.worker_max_jobs,
        job_timeout=JOB_TIMEOUT_SECONDS,
        keep_result=0,
        job_completion_wait=JOB_TIMEOUT_SECONDS,
        poll_delay=0.1,
        health_check_interval=10,
        health_check_key=health_check_key(),
        allow_abort_jobs=False,
        handle_signals=True,
    )


def run(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    # The event loop uvicorn gives the api; arq picks up whatever loop is current.
    asyncio.set_event_loop(uvloop.new_event_loop())
    configure_logging(settings.log_format, settings.log_level)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr="0.0.0.0")  # noqa: S104
    create_worker(settings).run()
