"""A workflow run: starts each step once every step it needs has succeeded, applies the
failure policies, and reports its progress as events and to its journal."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

import attrs
from alveary import Host

from ._definition import OnFailure, Workflow
from ._execute import Execution, StepFailed
from ._records import RunResult, RunState, StepResult, StepState


class Journal(Protocol):
    """Where a run writes what must outlive the orchestrator (see ``_persist``)."""

    def step(self, run_id: str, name: str, result: StepResult) -> None: ...

    def finished(self, run: Run) -> None: ...


class Run:
    """A handle on a workflow run: ``await run.result()``, ``await run.cancel()``,
    ``run.snapshot()``."""

    def __init__(
        self,
        host: Host,
        run_id: str,
        workflow: Workflow,
        *,
        credentials: Mapping[str, Any] | None,
        journal: Journal,
        max_items: int,
        steps: Mapping[str, StepResult] | None = None,
        estimates: Mapping[str, float] | None = None,
    ) -> None:
        self.id, self.workflow, self.host = run_id, workflow, host
        self.state = RunState.PENDING
        self.steps: dict[str, StepResult] = {name: StepResult() for name in workflow.order}
        self.steps.update(steps or {})
        self.estimates: Mapping[str, float] = estimates or {}
        """Each step's estimated start (epoch seconds), from measured durations."""
        self._open = sum(not result.state.terminal for result in self.steps.values())
        self._credentials, self._journal, self._max_items = credentials, journal, max_items
        self._running: dict[str, asyncio.Task[None]] = {}
        self._executions: dict[str, Execution] = {}
        self._done = asyncio.get_running_loop().create_future()
        self._stopping: asyncio.Future[None] | None = None
        self._waiting = {name: len(workflow.by_name[name].needs) for name in workflow.order}
        self._dependents: dict[str, list[str]] = {name: [] for name in workflow.order}
        for name in workflow.order:
            for need in workflow.by_name[name].needs:
                self._dependents[need].append(name)

    def snapshot(self) -> RunResult:
        """The run's state and every step's, now (task ids of running steps included)."""
        steps = dict(self.steps)
        for name, execution in self._executions.items():
            steps[name] = attrs.evolve(steps[name], task_ids=execution.task_ids)
        return RunResult(self.id, self.workflow.name, self.state, steps)

    async def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run to end and return its final snapshot; ``TimeoutError`` if
        ``timeout`` seconds pass first (the run goes on)."""
        return await asyncio.wait_for(asyncio.shield(self._done), timeout)

    def done(self) -> bool:
        return self._done.done()

    async def cancel(self) -> bool:
        """Cancel the run: its running steps' tasks are cancelled, the rest never start.
        False if it had already ended."""
        if self.state.terminal:
            return False
        await self._stop(RunState.CANCELLED)
        return True

    def detach(self) -> None:
        """Stop following the run without changing it (the orchestrator stops): its tasks
        and saved state stay for a restart to resume."""
        for name, task in self._running.items():
            self._executions[name].detached = True
            task.cancel()

    def start(self) -> None:
        """Begin (or, for a run restored from the journal, go on from its finished steps)."""
        self.state = RunState.RUNNING
        self.host.emit(
            "workflow.started",
            data={"run": self.id, "workflow": self.workflow.name, "steps": len(self.steps)},
        )
        restored = [name for name in self.workflow.order if self.steps[name].state.terminal]
        for name in restored:
            self._settled(name, announce=False)
        if any(self._fatal(name) for name in restored):  # it ended just before a restart
            self._stopping = asyncio.ensure_future(self._stop(RunState.FAILED))
            return
        for name in self.workflow.order:
            if self._waiting[name] == 0 and self.steps[name].state is StepState.PENDING:
                self._launch(name)
        self._maybe_finish()

    def _launch(self, name: str) -> None:
        step = self.workflow.by_name[name]
        scope = {need: self.steps[need].scope() for need in step.needs}

        def submitted() -> None:  # a fan-out's items reattach by their idempotency keys alone
            if step.fan_out is None:
                running = attrs.evolve(self.steps[name], task_ids=execution.task_ids)
                self._journal.step(self.id, name, running)

        key = f"workflow:{self.id}:{name}"
        execution = Execution(
            self.host, step, key, scope, self._credentials, self._max_items, submitted
        )
        self._executions[name] = execution
        self._set(name, StepResult(StepState.RUNNING, estimated_start=self._estimate(name)))
        self._running[name] = asyncio.ensure_future(self._execute(name, execution))

    async def _execute(self, name: str, execution: Execution) -> None:
        try:
            value = await execution.run()
        except StepFailed as error:
            state = StepState.CANCELLED if error.cancelled else StepState.FAILED
            result = StepResult(state, error=str(error), task_ids=execution.task_ids)
        else:
            result = StepResult(StepState.SUCCEEDED, value, task_ids=execution.task_ids)
        self._running.pop(name, None)
        self._executions.pop(name, None)
        if self.state.terminal:
            return
        self._set(name, attrs.evolve(result, estimated_start=self._estimate(name)))
        self._settled(name, announce=True)
        if self._fatal(name):
            await self._stop(RunState.FAILED)
            return
        self._maybe_finish()

    def _fatal(self, name: str) -> bool:
        state = self.steps[name].state
        policy = self.workflow.by_name[name].on_failure
        return state in (StepState.FAILED, StepState.CANCELLED) and policy is OnFailure.FAIL

    def _settled(self, name: str, *, announce: bool) -> None:
        """A step ended: start the dependents it was the last need of, or skip them if it
        did not succeed (and what depends on them, without recursion: chains are long)."""
        ended = [name]
        while ended:
            done = ended.pop()
            succeeded = self.steps[done].state is StepState.SUCCEEDED
            for dependent in self._dependents[done]:
                self._waiting[dependent] -= 1
                if self.steps[dependent].state is not StepState.PENDING:
                    continue
                if not succeeded:
                    skipped = StepResult(StepState.SKIPPED, error=f"{done} did not succeed")
                    self._set(dependent, skipped)
                    ended.append(dependent)
                elif announce and self._waiting[dependent] == 0:
                    self._launch(dependent)

    async def _stop(self, state: RunState) -> None:
        self.state = state
        for name, result in list(self.steps.items()):
            if result.state is StepState.PENDING:
                self._set(name, StepResult(StepState.CANCELLED, error=f"run {state.value}"))
        running = list(self._running.items())
        for _, task in running:
            task.cancel()
        await asyncio.gather(*(task for _, task in running), return_exceptions=True)
        for name, _ in running:
            execution = self._executions.pop(name)
            self._running.pop(name, None)
            ids = execution.task_ids
            self._set(
                name, StepResult(StepState.CANCELLED, error=f"run {state.value}", task_ids=ids)
            )
        self._finish()

    def _maybe_finish(self) -> None:
        if self.state.terminal or self._open:
            return
        failed = any(
            result.state in (StepState.FAILED, StepState.CANCELLED)
            and self.workflow.by_name[name].on_failure is not OnFailure.SKIP
            for name, result in self.steps.items()
        )
        self.state = RunState.FAILED if failed else RunState.SUCCEEDED
        self._finish()

    def _finish(self) -> None:
        self._journal.finished(self)
        self.host.emit("workflow.finished", data={"run": self.id, "state": self.state.value})
        if not self._done.done():
            self._done.set_result(self.snapshot())

    def _set(self, name: str, result: StepResult) -> None:
        self._open += self.steps[name].state.terminal - result.state.terminal
        self.steps[name] = result
        self._journal.step(self.id, name, result)
        self.host.emit(
            "workflow.step",
            data={
                "run": self.id,
                "step": name,
                "state": result.state.value,
                "task_ids": list(result.task_ids),
                "error": result.error,
            },
        )

    def _estimate(self, name: str) -> float | None:
        return self.estimates.get(name)
