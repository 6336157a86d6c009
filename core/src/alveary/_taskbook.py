"""The task book: task records, their transitions, who waits for them, and the retry policy."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from ._components import Store
from ._config import OrchestratorConfig
from ._errors import NotFound
from ._events import EventBus
from ._records import Outcome, Task
from ._states import TaskState
from ._timers import Deadlines

_NAMES = {state: state.value for state in TaskState}
_EVENTS = {state: f"task.{state.value}" for state in TaskState}
"""Looked up, not built: ``Enum.value`` is a descriptor call, on every transition."""


def backoff(attempts: int, base: float, most: float, draw: float) -> float:
    """Seconds to wait before the next attempt after ``attempts`` attempts: exponential
    (``base * 2**(attempts-1)``, at most ``most``) with equal jitter (``draw`` in [0, 1))."""
    ceiling = min(most, base * 2.0 ** max(attempts - 1, 0))
    return ceiling / 2 + draw * ceiling / 2


class TaskBook:
    """Every unfinished task, the counts by state, and the futures of callers waiting.

    ``transition`` is the one place a task's state changes: it saves the task and announces
    the change. ``settle`` turns an attempt's outcome into the task's next step: finished,
    dead, or back to pending for a retry after its backoff.
    """

    def __init__(
        self,
        store: Store,
        events: EventBus,
        deadlines: Deadlines,
        settings: OrchestratorConfig,
        now: Callable[[], float],
        rng: random.Random,
        place: Callable[[Task], None],
    ) -> None:
        self.store = store
        self._events = events
        self._deadlines = deadlines
        self._settings = settings
        self._now = now
        self._rng = rng
        self.active: dict[str, Task] = {}
        self.counts: Counter[TaskState] = Counter()
        self.retries = 0
        self.place = place
        """Routes a pending task: the dispatcher's ``place``."""
        self.closing = False
        self._waiters: dict[str, list[asyncio.Future[Outcome]]] = {}

    def get(self, task_id: str) -> Task:
        task = self.active.get(task_id) or self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"no task {task_id!r}")
        return task

    def add(self, task: Task, *, how: str | None = None) -> None:
        """Take a task in as pending: a new one, one a durable store kept from an earlier run
        (``how="recovered"``), or a dead or failed one to run again with a fresh attempt
        budget (``how="requeued"``)."""
        self.active[task.id] = task
        if how != "requeued" or self.counts[task.state] <= 0:  # not counted yet in this run
            self.counts[task.state] += 1
        if how is not None:
            task.agent_id = None
        if how == "requeued":
            task.attempts, task.outcome = 0, None
        self.transition(task, TaskState.PENDING, {how: True} if how else None)

    def transition(self, task: Task, state: TaskState, data: Any = None) -> None:
        self.counts[task.state] -= 1
        self.counts[state] += 1
        task.state = state
        task.times[_NAMES[state]] = now = self._now()
        self.store.save_task(task)
        events, type = self._events, _EVENTS[state]
        events.counts[type] += 1
        if events.wants[type]:
            events.send(type, now, task, None, data)

    def settle(self, task: Task, outcome: Outcome) -> None:
        """Apply how an attempt ended: finish the task, or retry it while attempts remain."""
        if task.state.terminal:
            return
        if outcome.state is not TaskState.FAILED or not outcome.retry:
            self.finish(task, outcome)
        elif task.attempts >= task.spec.max_attempts:
            self.finish(task, attrs.evolve(outcome, state=TaskState.DEAD))
        elif self.closing and not self.store.durable:
            error = f"orchestrator stopped ({outcome.error})"
            self.finish(task, attrs.evolve(outcome, state=TaskState.CANCELLED, error=error))
        else:
            self._retry(task, outcome.error or "failed")

    def _retry(self, task: Task, error: str) -> None:
        settings = self._settings
        delay = backoff(task.attempts, settings.retry_base, settings.retry_max, self._rng.random())
        self.retries += 1
        task.agent_id = None
        data = {"error": error, "attempt": task.attempts, "retry_in": round(delay, 3)}
        self.transition(task, TaskState.PENDING, data)
        if delay <= 0:
            self.place(task)
        else:
            self._deadlines.at(self._now() + delay, self._requeue, task)

    def _requeue(self, task: Task) -> None:
        if task.state is TaskState.PENDING and not self.closing:
            self.place(task)

    def finish(self, task: Task, outcome: Outcome) -> None:
        task.outcome = outcome
        self.active.pop(task.id, None)
        data: dict[str, Any] | None = None
        if self._events.wants[_EVENTS[outcome.state]]:
            data = {"attempts": outcome.attempts}
            if outcome.error is not None:
                data["error"] = outcome.error
        self.transition(task, outcome.state, data)
        for waiter in self._waiters.pop(task.id, ()):
            if not waiter.done():
                waiter.set_result(outcome)

    def fail_now(self, task: Task, state: TaskState, error: str) -> None:
        """End a task that is not running (cancelled, or never placed) without an attempt."""
        self.finish(task, Outcome(state, error=error, attempts=task.attempts))

    def waiter(self, task_id: str) -> asyncio.Future[Outcome]:
        """A new future for one caller waiting on the task's outcome."""
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(task_id, []).append(waiter)
        return waiter

    def unwait(self, task_id: str, waiter: asyncio.Future[Outcome]) -> None:
        """Forget a caller that stopped waiting (cancelled or timed out)."""
        waiters = self._waiters.get(task_id)
        if waiters is not None and waiter in waiters:
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[task_id]
