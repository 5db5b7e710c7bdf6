"""Liveness, readiness and metrics.

Readiness means "this pod can durably accept a webhook": Postgres reachable, or failing that the
Redis spool, or failing both this pod's disk (``spool.local_records`` then says how much would be
lost with the pod). Redis being down does not make the pod unready — the message is still stored
and the sweeper enqueues it later — so a Redis blip never turns webhooks away at the ingress.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.deps import StateDep
from services.core import jobs
from services.core.db import ping

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(coro: Any) -> tuple[bool, Any]:
    try:
        return True, await asyncio.wait_for(coro, timeout=2.0)
    except Exception as exc:
        return False, type(exc).__name__


@router.get("/readyz", summary="Dependencies reachable; the pod can accept webhooks")
async def readyz(state: StateDep) -> JSONResponse:
    pg_ok, pg_detail = await _check(ping(state.engine))
    redis_ok, redis_detail = await _check(state.redis.ping())
    backlog_ok, backlog = await _check(jobs.ready_backlog(state.redis))
    pending_ok, pending = await _check(state.spool.pending())
    local_ok = state.spool.local.writable()
    ready = pg_ok or redis_ok or local_ok
    body = {
        "status": "ready" if ready else "unready",
        "checks": {
            "postgres": "ok" if pg_ok else f"down: {pg_detail}",
            "redis": "ok" if redis_ok else f"down: {redis_detail}",
            "spool": {
                "pending": pending if pending_ok else None,
                "local_writable": local_ok,
                "local_records": state.spool.local.pending(),
            },
            "queue_ready_jobs": backlog if backlog_ok else None,
        },
    }
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
