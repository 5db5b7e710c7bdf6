"""Natural batching: callers that arrive while a batch is being written share the next one.

There is no timer. At low load a batch holds one item and costs what a single call costs; under
load the per-item cost of round trips and commits shrinks with the batch. Each caller still gets
its own result, only after its batch is done. A flush may answer one item with an exception
instead of a result: that item's caller alone raises it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence


class Coalescer[T, R]:
    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R | Exception]]],
        max_batch: int = 256,
    ) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:  # every waiter decides for itself what failure means
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
