"""SIGTERM with a turn that outlasts the grace: the worker hands it back and exits in time,
another worker answers it at once, exactly once.

The pod's terminationGracePeriodSeconds reaches the worker as
ATENDE_WORKER_SHUTDOWN_GRACE_SECONDS; here it is 4 s, and the model takes longer than that.
The sweeper is held off (ATENDE_STUCK_AFTER_SECONDS=60), so only the hand-back can explain an
answer within seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from services.core.models import Turn
from tests.standins.gemini import Reply

from .conftest import CUSTOMER, Stack, answer_for, baileys_text, eventually

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("invariants")]
GRACE_SECONDS = 4.0


@pytest.fixture
def stack_env() -> dict[str, str]:
    return {
        "ATENDE_WORKER_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS),
        "ATENDE_STUCK_AFTER_SECONDS": "60",
        "ATENDE_GEMINI_TIMEOUT_SECONDS": "120",  # the slow call is cut by SIGTERM, not a timeout
    }


async def test_sigterm_hands_back_a_turn_that_outlasts_the_grace(stack: Stack) -> None:
    first = stack.worker
    assert first is not None
    text = "Vocês entregam no sábado?"
    # The first call takes a minute; the responder answers any later one at once.
    stack.gemini.script(dataclasses.replace(Reply.text(answer_for(text)), delay=60.0))
    assert (await stack.post(baileys_text("HANDBACK-1", text))).json()["status"] == "accepted"

    async def calling() -> bool:
        return stack.gemini.request_count == 1

    await eventually(calling, within=15, what="the first worker's model call")
    second = stack.start_worker()
    await stack.wait_worker_ready(second)
    assert stack.gemini.request_count == 1

    started = time.monotonic()
    code = await asyncio.to_thread(first.terminate, GRACE_SECONDS + 10)
    took = time.monotonic() - started
    assert code == 0, first.tail()
    assert took < GRACE_SECONDS + 1, f"exited after {took:.1f}s"
    [draining] = first.events("worker.draining")
    assert draining["in_flight"] == 1
    [stopping] = first.events("worker.stopping")
    assert stopping["handed_back"] == 1

    sent = await stack.wait_sent(1, number=CUSTOMER, within=20)
    answered_after = time.monotonic() - started - took
    assert [s["text"] for s in sent] == [answer_for(text)]
    # Taken from the queue at once, not found a minute later by the sweeper.
    assert answered_after < 5, f"answered {answered_after:.1f}s after the first worker exited"
    assert not second.events("sweeper.requeued"), second.tail()
    assert stack.gemini.request_count == 2  # the cancelled call, and the one that answered

    async def answered() -> bool:
        [turn] = await stack.rows(Turn)
        return turn.status == "answered"

    await eventually(answered, within=10, what="the turn to be recorded as answered")
    await asyncio.sleep(1.5)  # a sweep period: no second delivery may follow
    assert len(stack.sent_to(CUSTOMER)) == 1
