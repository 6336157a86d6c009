"""Waiting on code the kernel does not trust, without being held hostage by it.

``asyncio.wait_for`` waits for the awaited task to *finish* after cancelling it, so a plugin
hook or a runtime that swallows ``CancelledError`` keeps its caller waiting forever. ``bounded``
stops waiting at the deadline: it cancels the work, gives it a short grace to unwind, and then
abandons it, telling the caller whether it would not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")

_EAGER = sys.version_info >= (3, 12)
"""Tasks can run their first step at once from 3.12 (``eager_start``)."""


class Overrun(Exception):
    """The work did not finish within its time; ``stuck`` if it also ignored cancellation."""

    def __init__(self, elapsed: float, stuck: bool) -> None:
        super().__init__(elapsed, stuck)
        self.elapsed = elapsed
        self.stuck = stuck


_abandoned: set[asyncio.Future[Any]] = set()
"""Work given up on that is still running: kept referenced so it is not collected mid-run,
and its eventual exception retrieved so asyncio does not log it as never retrieved."""


def _forget(future: asyncio.Future[Any]) -> None:
    _abandoned.discard(future)
    if not future.cancelled():
        future.exception()


def first_step(work: Coroutine[Any, Any, T]) -> tuple[asyncio.Task[T] | None, T | None]:
    """Make ``work`` a task that runs its first step now, as the current task, in a copy of
    the current context (``eager_start``, from 3.12; before it, the task starts as usual).

    Most attempts, runtime starts and async hooks finish without ever waiting: those cost no
    trip through the event loop. The step runs as the work's own task, so what it binds to
    the current task (``asyncio.timeout``, ``wait_for`` from 3.12, a ``TaskGroup``) is its
    own. Returns ``(None, result)`` for work that finished in that step (its exception is
    raised), else ``(task, None)``.
    """
    loop = asyncio.get_running_loop()
    if not _EAGER:
        return loop.create_task(work), None
    task = asyncio.Task(work, loop=loop, eager_start=True)  # type: ignore[call-arg,unused-ignore]
    if not task.done():
        return task, None
    return None, task.result()


async def bounded(work: Awaitable[T], timeout: float | None, grace: float) -> T:
    """Await ``work`` for at most ``timeout`` seconds (None: no limit) and return its result.

    Raises ``Overrun`` when the time passes: the work was cancelled and, if it did not stop
    within ``grace`` seconds, abandoned (``stuck``). If the caller is cancelled meanwhile, the
    work is cancelled too, given the same ``grace`` to unwind (a runtime cleaning up a process
    it started), and the caller's ``CancelledError`` propagates.
    """
    loop = asyncio.get_running_loop()
    if inspect.iscoroutine(work):
        future, value = first_step(work)
        if future is None:
            return cast(T, value)
    else:
        future = asyncio.ensure_future(work)
    begun = loop.time()
    try:
        done, _ = await asyncio.wait((future,), timeout=timeout)
    except asyncio.CancelledError:
        await _unwind(future, grace)
        raise
    if done:
        if future.cancelled():  # it cancelled itself: a failure, not the caller's cancellation
            raise RuntimeError("the work cancelled itself")
        return cast(T, future.result())
    future.cancel()
    try:
        await asyncio.wait((future,), timeout=grace)
    except asyncio.CancelledError:
        _abandon(future)
        raise
    stuck = not future.done()
    if stuck:
        _abandon(future)
    else:
        _forget(future)  # finished during the grace: still an overrun, its result unused
    raise Overrun(loop.time() - begun, stuck)


async def _unwind(future: asyncio.Future[Any], grace: float) -> None:
    """Cancel the work of a cancelled caller and wait up to ``grace`` for it to end; a second
    cancellation of the caller stops the wait."""
    future.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait((future,), timeout=grace)
    _abandon(future)


def _abandon(future: asyncio.Future[Any]) -> None:
    future.cancel()
    if future.done():
        _forget(future)
        return
    _abandoned.add(future)
    future.add_done_callback(_forget)
