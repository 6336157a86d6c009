"""The deadline heap: one event-loop timer however often it is swept."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from alveary import AgentSpec, TaskSpec
from alveary._timers import Deadlines
from alveary.testing import orchestrator


def live_timers(loop: asyncio.AbstractEventLoop) -> int:
    return sum(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]


async def test_sweeping_from_the_tick_keeps_one_timer() -> None:
    loop = asyncio.get_running_loop()
    before = live_timers(loop)
    deadlines = Deadlines(time.time)
    deadlines.at(time.time() + 3600, print, None)
    for _ in range(50):
        deadlines.sweep()
    assert live_timers(loop) - before == 1
    deadlines.close()
    assert live_timers(loop) == before


async def test_due_deadlines_fire_once_in_order_and_cancelled_ones_never() -> None:
    fired: list[str] = []
    now = [1000.0]
    deadlines = Deadlines(lambda: now[0])
    deadlines.at(1002.0, fired.append, "b")
    deadlines.at(1001.0, fired.append, "a")
    gone = deadlines.at(1001.5, fired.append, "x")
    deadlines.cancel(gone)
    now[0] = 1005.0
    deadlines.sweep()
    deadlines.sweep()
    assert fired == ["a", "b"]
    assert len(deadlines) == 0


async def test_a_cancelled_deadline_keeps_nothing_alive_until_it_would_have_fired() -> None:
    """A finished attempt cancels its timeout; the entry stays in the heap until it would
    have fired, and must not hold the attempt (its task, coroutine and frame) until then."""

    class Attempt:
        pass

    deadlines = Deadlines(time.time)
    attempt = Attempt()
    gone = weakref.ref(attempt)
    entry = deadlines.at(time.time() + 3600, print, attempt)
    deadlines.cancel(entry)
    del attempt
    assert gone() is None
    deadlines.close()


async def test_an_orchestrator_keeps_no_finished_attempt() -> None:
    async with orchestrator({}) as orch:
        await orch.register(AgentSpec("a", options={"handler": "alveary.testing:echo"}))
        ids = set()
        for n in range(50):
            handle = await orch.submit(TaskSpec("echo", payload=n))
            assert (await handle.result(5)).ok
            ids.add(handle.id)
        gc.collect()
        # Only this orchestrator's: another test's may live on in an exception it keeps.
        kept = [o for o in gc.get_objects() if type(o).__name__ == "Attempt" and o.task.id in ids]
        assert kept == []
