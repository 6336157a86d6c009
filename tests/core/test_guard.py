"""``first_step`` and ``bounded``: work that never waits is run in place; work that waits is a task
(with a deadline, for ``bounded``); work that will not stop is abandoned. Either way the
caller sees the same thing."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sys
from typing import Any

import pytest
from alveary._guard import Overrun, bounded, first_step

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="caller's")


async def instant(value: Any) -> Any:
    VAR.set("the work's")
    return value


async def fails_at_once() -> None:
    raise ValueError("bad spec")


async def waits(seconds: float, value: Any = "late") -> Any:
    VAR.set("the work's")
    await asyncio.sleep(0)
    await asyncio.sleep(seconds)
    assert VAR.get() == "the work's"
    return value


async def ignores_cancellation(release: asyncio.Event) -> None:
    await asyncio.sleep(0)
    while not release.is_set():
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()


@pytest.mark.parametrize("work", [instant, waits], ids=["never-waits", "waits"])
async def test_the_result_comes_back_and_the_callers_context_is_its_own(work: Any) -> None:
    args = (0.0,) if work is waits else ()
    assert await bounded(work(*args) if args else work("done"), 5, 1) in ("done", "late")
    assert VAR.get() == "caller's"


async def test_an_error_in_the_first_step_is_raised() -> None:
    with pytest.raises(ValueError, match="bad spec"):
        await bounded(fails_at_once(), 5, 1)


async def test_work_past_its_deadline_is_cancelled() -> None:
    with pytest.raises(Overrun) as over:
        await bounded(waits(60), 0.05, 1)
    assert not over.value.stuck


async def test_work_that_ignores_cancellation_is_abandoned() -> None:
    release = asyncio.Event()
    with pytest.raises(Overrun) as over:
        await bounded(ignores_cancellation(release), 0.05, 0.05)
    assert over.value.stuck
    release.set()


async def test_a_cancelled_caller_cancels_the_work() -> None:
    seen: list[str] = []

    async def cleans_up() -> None:
        await asyncio.sleep(0)
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    caller = asyncio.ensure_future(bounded(cleans_up(), None, 1))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert seen == ["cancelled"]


async def test_plain_awaitables_still_work() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.set_result, 7)
    assert await bounded(future, 5, 1) == 7


BEFORE_312 = pytest.mark.skipif(
    sys.version_info < (3, 12), reason="before 3.12 the work is a task started as usual"
)


@BEFORE_312
async def test_first_step_runs_work_that_never_waits_in_place() -> None:
    task, value = first_step(instant("done"))
    assert (task, value) == (None, "done")
    assert VAR.get() == "caller's"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is new in 3.11")
async def test_what_the_first_step_binds_to_the_current_task_is_its_own() -> None:
    """``asyncio.timeout`` (and ``wait_for``, from 3.12) bind to the current task: in the
    first step that must be the work's own task, or the caller is cancelled when it expires."""

    async def times_itself_out() -> str:
        try:
            async with asyncio.timeout(0.01):  # type: ignore[attr-defined,unused-ignore]
                await asyncio.sleep(60)
        except TimeoutError:
            return "timed out"
        return "slept"

    task, _ = first_step(times_itself_out())
    assert task is not None
    assert await task == "timed out"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr,unused-ignore]


async def test_a_started_task_drives_the_work_on_with_its_context() -> None:
    task, _ = first_step(waits(0.0, "late"))
    assert task is not None
    assert await task == "late"
    assert VAR.get() == "caller's"
