"""What a run reports: its state, and each step's state, value and task ids."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs


class RunState(str, enum.Enum):
    """Where a run is: ``pending -> running`` and then one terminal state."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class StepState(str, enum.Enum):
    """Where a step is. ``skipped``: a step it needs did not succeed under a policy that
    lets the run go on; ``cancelled``: the run was cancelled or failed before it ended."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (StepState.PENDING, StepState.RUNNING)


@attrs.frozen
class StepResult:
    """One step of a run: its state, value (a list, in item order, for a fan-out), why it
    did not succeed, the ids of its tasks, and when it was estimated to start."""

    state: StepState = StepState.PENDING
    value: Any = None
    error: str | None = None
    task_ids: tuple[str, ...] = ()
    estimated_start: float | None = None

    def scope(self) -> dict[str, Any]:
        """What a reference to this step sees: ``{step.value}``, ``{step.state}``, ..."""
        return {
            "value": self.value,
            "state": self.state.value,
            "error": self.error,
            "task_ids": list(self.task_ids),
        }


@attrs.frozen
class RunResult:
    """A snapshot of a run."""

    id: str
    workflow: str
    state: RunState
    steps: Mapping[str, StepResult]

    @property
    def values(self) -> dict[str, Any]:
        """The value of each step that succeeded."""
        return {n: s.value for n, s in self.steps.items() if s.state is StepState.SUCCEEDED}
