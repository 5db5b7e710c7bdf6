"""``atende worker`` with one more job, ``stall``, that blocks the event loop with
``time.sleep`` (a synchronous call in a job, the bug /healthz exists to catch).

Run as ``python -m tests.worker.stalling_worker``; everything else is the product's own
``services.worker.main.run``.
"""

from __future__ import annotations

import time
from typing import Any

from arq import func

from services.worker import main

STALL = "stall"


async def stall(ctx: dict[str, Any], seconds: float) -> None:
    time.sleep(seconds)  # noqa: ASYNC251 - blocking the loop is the point


def _with_stall(settings: Any, health: Any = None) -> main.AtendeWorker:
    worker = _create(settings, health)
    worker.functions[STALL] = func(stall, name=STALL)
    return worker


_create = main.create_worker
main.create_worker = _with_stall

if __name__ == "__main__":
    main.run()
