"""The knowledge job: embedding a tenant's changed entries (the sweeper loop re-enqueues what
Redis lost, :func:`services.core.knowledge.requeue_embeddings`)."""

from __future__ import annotations

from typing import Any

from services.core import knowledge
from services.worker.context import typed

from .retries import retried


async def embed_knowledge(ctx: dict[str, Any], tenant_id: int) -> None:
    deps = typed(ctx)["runtime"]
    async with retried(ctx, "embedding", tenant_id=tenant_id):
        tenant = await deps.tenants.by_id(tenant_id)
        embedder = deps.embedder_for(tenant) if tenant is not None else None
        attempt = typed(ctx).get("job_try", 1)
        await knowledge.embed_job(deps.sessionmaker, tenant_id, embedder, attempt)
