"""Gemini as the knowledge domain's :class:`~services.core.knowledge.Embedder`: the platform's
embedding model and output size (``ATENDE_EMBEDDING_MODEL``, ``ATENDE_EMBEDDING_DIMENSIONS``)
on a tenant's (or the platform's) :class:`GeminiClient`, so embeddings share its HTTP pool."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.core.knowledge import TaskType

from .gemini import GeminiClient


@dataclass(frozen=True, slots=True)
class GeminiEmbedder:
    client: GeminiClient
    model: str
    dimensions: int

    async def embed(self, texts: Sequence[str], task: TaskType) -> list[list[float]]:
        return await self.client.embed(
            self.model, texts, task_type=task, dimensions=self.dimensions
        )
