"""Attempts: run one try of a task on an agent, interrupt it, time it out, and always end it.

Each attempt runs in an asyncio task of its own. From Python 3.12 the task runs its first
step at once, where it is started (``eager_start``): handlers that answer without waiting cost
no trip through the event loop. Its deadline is armed before the ``alveary_task_before``
gates, so a gate cannot hold a slot past the task's timeout. An attempt that is interrupted
(timeout, cancel, agent lost) and does not unwind within ``cancel_grace`` (a handler that
swallows ``CancelledError``) is settled anyway and its work abandoned: no runtime can leave a
task non-terminal or keep ``stop()`` waiting.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from ._components import Runtime
from ._errors import PermanentFailure, Rejected
from ._guard import first_step
from ._hooks import Hooks
from ._isolation import describe
from ._records import Agent, Outcome, Task
from ._states import TaskState
from ._taskbook import TaskBook
from ._timers import Deadlines, Entry

log = structlog.get_logger("alveary")


class Attempt:
    """One try of a task on an agent, from slot reserved to slot freed."""

    __slots__ = ("agent", "deadline", "interrupt", "over", "runner", "task")

    def __init__(self, task: Task, agent: Agent) -> None:
        self.task = task
        self.agent = agent
        self.runner: asyncio.Task[None] | None = None
        self.deadline: Entry | None = None
        self.interrupt: tuple[str, bool] | None = None
        """Why the kernel interrupted it, and whether that spends the attempt."""
        self.over = False


class Attempts:
    """The attempts in flight, by task id."""

    def __init__(
        self,
        hooks: Hooks,
        runtimes: Mapping[str, Runtime],
        book: TaskBook,
        deadlines: Deadlines,
        now: Callable[[], float],
        grace: float,
        release: Callable[[Agent], None],
    ) -> None:
        self._hooks = hooks
        self._runtimes = runtimes
        self._book = book
        self._deadlines = deadlines
        self._now = now
        self._grace = grace
        self._release = release
        self.running: dict[str, Attempt] = {}
        self._abandoned: set[asyncio.Task[None]] = set()
        self._stepping = False
        """An attempt's first step runs now: one it starts (its slot freed the agent for the
        next) is a task."""
        self.closing = False
        """Every runner was cancelled: the orchestrator is stopping."""

    def start(self, task: Task, agent: Agent) -> None:
        attempt = Attempt(task, agent)
        attempt.deadline = self._deadlines.at(
            self._now() + task.spec.timeout, self._timed_out, attempt
        )
        self.running[task.id] = attempt
        if self._stepping:  # one attempt's first step at a time: no recursion through release
            attempt.runner = asyncio.get_running_loop().create_task(self._run(attempt))
            return
        self._stepping = True
        try:
            attempt.runner, _ = first_step(self._run(attempt))
        finally:
            self._stepping = False
        if attempt.runner is not None and attempt.interrupt is not None:
            attempt.runner.cancel()  # interrupted during its first step

    async def _run(self, attempt: Attempt) -> None:
        task, agent, hooks = attempt.task, attempt.agent, self._hooks
        outcome: Outcome | None = None
        try:
            try:
                self._check(attempt)  # interrupted before this coroutine started
                if hooks.has_task_before:
                    await hooks.task_before(task, agent)
                    self._check(attempt)
                self._book.transition(task, TaskState.RUNNING)
                value = await self._runtimes[agent.spec.runtime].execute(agent, task)
                self._check(attempt)
                outcome = Outcome(TaskState.SUCCEEDED, value, None, agent.id, task.attempts)
            except asyncio.CancelledError:
                outcome = self._interrupted(attempt)
                if outcome is None:
                    if self.closing or _cancelled(attempt):
                        raise
                    error = "CancelledError raised by the agent, not asked for"
                    outcome = Outcome(TaskState.FAILED, None, error, agent.id, task.attempts)
            except Rejected as exc:
                error = f"rejected: {exc}"
                outcome = Outcome(TaskState.FAILED, None, error, agent.id, task.attempts)
            except PermanentFailure as exc:
                outcome = Outcome(
                    TaskState.FAILED, None, describe(exc), agent.id, task.attempts, retry=False
                )
            except Exception as exc:
                outcome = Outcome(TaskState.FAILED, None, describe(exc), agent.id, task.attempts)
            if hooks.has_task_after and attempt.interrupt is None:
                try:
                    outcome = await hooks.task_after(task, agent, outcome)
                    self._check(attempt)
                except asyncio.CancelledError:
                    outcome = self._interrupted(attempt)
                    if outcome is None:
                        raise
        finally:
            if outcome is None:  # cancelled from outside: the orchestrator is stopping
                outcome = Outcome(TaskState.CANCELLED, None, "orchestrator stopped", agent.id)
                self._end(attempt, outcome, settle=False)
            else:
                self._end(attempt, outcome)

    def _end(self, attempt: Attempt, outcome: Outcome, *, settle: bool = True) -> None:
        """Free the slot, tell the plugins, settle the task: once per attempt."""
        if attempt.over:
            return
        attempt.over = True
        task = attempt.task
        del self.running[task.id]
        if attempt.deadline is not None:
            self._deadlines.cancel(attempt.deadline)
        self._release(attempt.agent)
        if self._hooks.has_attempt_hooks:
            self._hooks.attempt_finished(task, attempt.agent, outcome)
        if settle:
            self._book.settle(task, outcome)

    def _check(self, attempt: Attempt) -> None:
        """Raise ``CancelledError`` if the attempt was interrupted: also when the cancellation
        was swallowed on the way (a handler may catch it; ``asyncio.wait_for`` before 3.12
        drops it when what it awaits finishes at the same moment)."""
        if attempt.interrupt is not None:
            raise asyncio.CancelledError

    def _interrupted(self, attempt: Attempt) -> Outcome | None:
        """The outcome of an attempt the kernel interrupted; None if nobody here asked for it
        (a cancellation from outside, which the caller re-raises)."""
        interrupt = attempt.interrupt
        if interrupt is None:
            return None
        current = asyncio.current_task()
        if current is not None and current is attempt.runner and hasattr(current, "uncancel"):
            current.uncancel()
        return self._outcome_of(attempt, *interrupt)

    def _outcome_of(self, attempt: Attempt, reason: str, counts: bool) -> Outcome:
        task, agent_id = attempt.task, attempt.agent.id
        if reason == "cancelled":
            return Outcome(TaskState.CANCELLED, None, "cancelled", agent_id, task.attempts)
        if not counts:
            task.attempts -= 1
        return Outcome(TaskState.FAILED, None, reason, agent_id, task.attempts)

    def _timed_out(self, attempt: Attempt) -> None:
        attempt.deadline = None
        self.interrupt(attempt, f"timed out after {attempt.task.spec.timeout:g} s", count=True)

    def interrupt(self, attempt: Attempt, reason: str, *, count: bool) -> None:
        """Stop an attempt: ``reason`` becomes its error (``"cancelled"`` cancels the task);
        ``count`` False gives the attempt back (the agent left, not the task's fault)."""
        if attempt.over:
            return
        if attempt.interrupt is not None:
            if reason == "cancelled":  # a cancel wins over an interrupt under way
                attempt.interrupt = (reason, False)
            return
        attempt.interrupt = (reason, count)
        runner = attempt.runner
        # A task cancelled before its first step never runs its body (no cleanup, no
        # outcome): ``_run`` sees the interrupt when it starts instead.
        if runner is not None and _started(runner):
            runner.cancel()
        self._deadlines.at(self._now() + self._grace, self.abandon, attempt)

    def abandon(self, attempt: Attempt) -> None:
        """The interrupted attempt has not unwound within the grace: settle it anyway."""
        if attempt.over or attempt.interrupt is None:
            return
        log.warning(
            "attempt ignored cancellation; abandoned",
            task=attempt.task.id,
            agent=attempt.agent.name,
            runtime=attempt.agent.spec.runtime,
        )
        if attempt.runner is not None:
            self._abandoned.add(attempt.runner)
            attempt.runner.add_done_callback(self._abandoned.discard)
        self._end(attempt, self._outcome_of(attempt, *attempt.interrupt))

    def on_agent(self, agent: Agent) -> list[Attempt]:
        return [a for a in self.running.values() if a.agent is agent]

    def cancel_all(self) -> None:
        """Cancel every runner (the orchestrator is stopping)."""
        self.closing = True
        for attempt in list(self.running.values()):
            if attempt.runner is not None:
                attempt.runner.cancel()


def _cancelled(attempt: Attempt) -> bool:
    """Was the attempt's task cancelled from outside (its event loop ending without a stop)?
    Else a ``CancelledError`` nobody asked for came from the agent's own code."""
    runner = attempt.runner
    cancelling = getattr(runner, "cancelling", None)  # 3.11+
    return runner is asyncio.current_task() and cancelling is not None and cancelling() > 0


def _started(runner: asyncio.Task[Any]) -> bool:
    coro = runner.get_coro()
    return not inspect.iscoroutine(coro) or inspect.getcoroutinestate(coro) != "CORO_CREATED"
