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
"""Tasks take a ``context`` from 3.11: before it, work started here is a task from the start."""


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
    """Run ``work``'s first step now, in a copy of the current context, as a task would.

    Most attempts, runtime starts and async hooks finish without ever waiting: those cost no
    task and no trip through the event loop. Returns ``(None, result)`` for work that
    finished in that step, else ``(task, None)``: a task that drives the rest (and that
    ``cancel()`` reaches even before its own first step). An exception of the first step
    propagates. Before 3.11 (tasks take no ``context``), the work is a task from the start.
    """
    loop = asyncio.get_running_loop()
    if not _EAGER:
        return loop.create_task(work), None
    context = contextvars.copy_context()
    try:
        yielded = context.run(work.send, None)
    except StopIteration as finished:
        return None, cast(T, finished.value)
    rest = cast(Coroutine[Any, Any, T], _Started(work, yielded))
    return loop.create_task(rest, context=context), None  # type: ignore[call-arg,unused-ignore]


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


class _Started(Coroutine[Any, Any, Any]):
    """A coroutine whose first step already ran, for a task to drive on: its first step
    hands the task what the work yielded (the future it waits for); every later one, and a
    cancellation thrown in at any time (before the task's first step too), goes to the work."""

    __slots__ = ("_work", "_yielded")

    def __init__(self, work: Coroutine[Any, Any, Any], yielded: Any) -> None:
        self._work = work
        self._yielded = yielded

    def send(self, value: Any) -> Any:
        yielded = self._yielded
        if yielded is _NOTHING:
            return self._work.send(value)
        self._yielded = _NOTHING
        return yielded

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        yielded, self._yielded = self._yielded, _NOTHING
        if isinstance(yielded, asyncio.Future):  # as a task cancels what it waits for
            yielded.cancel()
        if val is None and tb is None:
            return self._work.throw(typ)
        return self._work.throw(typ, val, tb)

    def close(self) -> None:
        self._work.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        raise TypeError("a started coroutine is driven by its task, not awaited")


_NOTHING: Any = object()
"""``_Started`` has handed its first yield over."""


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
