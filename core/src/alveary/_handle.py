"""What the orchestrator hands back: a handle on a submitted task, a metrics snapshot."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from ._records import Outcome, Task

if TYPE_CHECKING:
    from ._orchestrator import Orchestrator


@attrs.frozen
class Metrics:
    """A snapshot of the orchestrator: counts by state, queue length, work in flight."""

    agents: Mapping[str, int]
    tasks: Mapping[str, int]
    queued: int
    in_flight: int
    submitted: int
    retries: int
    plugin_failures: Mapping[str, int]
    disabled_plugins: tuple[str, ...]
    uptime: float
    events: Mapping[str, int] = attrs.field(factory=dict)
    """Events by type since the orchestrator was made, counted whether or not anyone wanted
    them."""


class TaskHandle:
    """What ``submit`` returns: the task's id and a way to wait for its outcome."""

    __slots__ = ("_orch", "task")

    def __init__(self, orch: Orchestrator, task: Task) -> None:
        self._orch = orch
        self.task = task

    @property
    def id(self) -> str:
        return self.task.id

    def done(self) -> bool:
        """True once the task is in a terminal state."""
        return self.task.state.terminal

    def _final(self) -> Outcome | None:
        """The task's final outcome, if it has ended."""
        task = self.task
        return task.outcome if task.outcome is not None and task.state.terminal else None

    async def result(self, timeout: float | None = None) -> Outcome:
        """Wait for the task's final ``Outcome``. Never raises for a failed task: look at
        ``outcome.state``. Raises ``TimeoutError`` if ``timeout`` seconds pass first (``None``
        or infinity: wait as long as it takes), ``ValueError`` for a timeout that is not a
        number of seconds >= 0."""
        limit = None if timeout is None else _limit(timeout)
        final = self._final()
        if final is not None:
            return final
        # A future per caller: cancelling one wait leaves the others alone.
        book = self._orch._book
        waiter = book.waiter(self.task.id)
        try:
            if limit is None:  # no ``wait_for``: one coroutine less per wait
                return await waiter
            return await asyncio.wait_for(waiter, limit)
        except BaseException as exc:
            book.unwait(self.task.id, waiter)
            if isinstance(exc, asyncio.TimeoutError):
                state = self.task.state.value
                raise asyncio.TimeoutError(
                    f"task {self.task.id} is still {state} after {limit:g} s"
                ) from None
            raise

    async def cancel(self) -> bool:
        """Cancel the task; False if it had already finished."""
        return await self._orch.cancel(self.task.id)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.task.id} {self.task.spec.kind} {self.task.state.value}>"


async def results(handles: Iterable[TaskHandle], timeout: float | None = None) -> list[Outcome]:
    """The final ``Outcome`` of every task in ``handles``, in their order, once all have
    ended: what ``asyncio.gather(*(h.result() for h in handles))`` returns, without a
    coroutine and an asyncio task per handle (one future per task still going).

    Raises ``TimeoutError`` if ``timeout`` seconds pass first; the tasks go on.
    """
    limit = None if timeout is None else _limit(timeout)
    handles = list(handles)
    outcomes = [handle._final() for handle in handles]
    waits = [
        (i, handle, handle._orch._book.waiter(handle.task.id))
        for i, handle in enumerate(handles)
        if outcomes[i] is None
    ]
    if waits:
        gathered = asyncio.gather(*(waiter for _, _, waiter in waits))
        try:
            await (gathered if limit is None else asyncio.wait_for(gathered, limit))
        except BaseException as exc:
            for _, handle, waiter in waits:
                handle._orch._book.unwait(handle.task.id, waiter)
            if isinstance(exc, asyncio.TimeoutError):
                left = sum(not handle.done() for handle in handles)
                raise asyncio.TimeoutError(
                    f"{left} of {len(handles)} tasks still unfinished after {limit:g} s"
                ) from None
            raise
        for i, _, waiter in waits:
            outcomes[i] = waiter.result()
    return outcomes  # type: ignore[return-value]  # every None was replaced


def _limit(timeout: float) -> float | None:
    """``timeout`` checked: ``None`` for infinity, else finite seconds >= 0. A ``nan`` would
    otherwise reach the event loop's timer heap, where it compares false with every other."""
    if timeout == math.inf:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ValueError(f"timeout: expected seconds >= 0 or None, got {timeout!r}")
    return timeout
