"""Waiting on code the kernel does not trust, without being held hostage by it.

``asyncio.wait_for`` waits for the awaited task to *finish* after cancelling it, so a plugin
hook or a runtime that swallows ``CancelledError`` keeps its caller waiting forever. ``bounded``
stops waiting at the deadline: it cancels the work, gives it a short grace to unwind, and then
abandons it, telling the caller whether it would not stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import sys
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar, cast

T = TypeVar("T")

_EAGER = sys.version_info >= (3, 11)
"""Tasks take a ``context`` from 3.11: before it, every bounded work is a task from the start."""


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


async def bounded(work: Awaitable[T], timeout: float | None, grace: float) -> T:
    """Await ``work`` for at most ``timeout`` seconds (None: no limit) and return its result.

    Raises ``Overrun`` when the time passes: the work was cancelled and, if it did not stop
    within ``grace`` seconds, abandoned (``stuck``). If the caller is cancelled meanwhile, the
    work is cancelled too, given the same ``grace`` to unwind (a runtime cleaning up a process
    it started), and the caller's ``CancelledError`` propagates.
    """
    loop = asyncio.get_running_loop()
    if _EAGER and inspect.iscoroutine(work):
        # Most runtime starts and async hooks finish without ever waiting: run the first step
        # here, and make a task (with its timer) only for work that suspends.
        context = contextvars.copy_context()
        try:
            yielded = context.run(work.send, None)
        except StopIteration as finished:
            return cast(T, finished.value)
        rest = _resume(work, yielded)
        future: asyncio.Future[T] = loop.create_task(rest, context=context)  # type: ignore[call-arg,unused-ignore]
    else:
        future = asyncio.ensure_future(work)
    start = loop.time()
    try:
        done, _ = await asyncio.wait((future,), timeout=timeout)
    except asyncio.CancelledError:
        await _unwind(future, grace)
        raise
    if done:
        if future.cancelled():  # it cancelled itself: a failure, not the caller's cancellation
            raise RuntimeError("the work cancelled itself")
        return future.result()
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
    raise Overrun(loop.time() - start, stuck)


async def _resume(work: Coroutine[Any, Any, T], yielded: Any) -> T:
    """Drive ``work`` on from where its first step stopped, as a task would have."""
    return cast(T, await _Rest(work, yielded))


class _Rest:
    """An awaitable over a started coroutine: ``await`` hands its next suspension to the task
    and passes back what the task sends or throws."""

    def __init__(self, work: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._work = work
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        work, yielded = self._work, self._yielded
        while True:
            try:
                sent = yield yielded
            except BaseException as exc:  # thrown in by the task: cancellation
                try:
                    yielded = work.throw(exc)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    yielded = work.send(sent)
                except StopIteration as finished:
                    return finished.value


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
