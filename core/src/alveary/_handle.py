"""What the orchestrator hands back: a handle on a submitted task, a metrics snapshot."""

from __future__ import annotations

import asyncio
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
        ``outcome.state``. Raises ``TimeoutError`` if ``timeout`` seconds pass first."""
        final = self._final()
        if final is not None:
            return final
        # A future per caller: cancelling one wait leaves the others alone.
        book = self._orch._book
        waiter = book.waiter(self.task.id)
        try:
            if timeout is None:  # no ``wait_for``: one coroutine less per wait
                return await waiter
            return await asyncio.wait_for(waiter, timeout)
        except BaseException:
            book.unwait(self.task.id, waiter)
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
            await (gathered if timeout is None else asyncio.wait_for(gathered, timeout))
        except BaseException:
            for _, handle, waiter in waits:
                handle._orch._book.unwait(handle.task.id, waiter)
            raise
        for i, _, waiter in waits:
            outcomes[i] = waiter.result()
    return outcomes  # type: ignore[return-value]  # every None was replaced
