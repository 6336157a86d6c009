"""Sample records and values the store suites save and compare."""

from __future__ import annotations

import time
import uuid
from typing import Any

from ..._converter import unstructure
from ..._records import Outcome, Task, TaskSpec
from ..._states import TaskState

VALUES: list[Any] = [
    0,
    -7,
    2.5,
    True,
    False,
    "",
    "ünïcødé ✓",
    [],
    {},
    [1, "two", 3.0, None, [4]],
    {"nested": {"list": [1, 2, {"deep": "yes"}], "n": 1.5}, "empty": []},
]
"""JSON-able values a plugin may save."""


def task(state: TaskState = TaskState.PENDING, **spec: Any) -> Task:
    """A task record in ``state`` with a unique id, filled in as the kernel fills it."""
    now = round(time.time(), 3)  # recent: a store may drop what is past its retention
    record = Task(
        uuid.uuid4().hex,
        TaskSpec(
            spec.pop("kind", "work"),
            spec.pop("payload", {"n": 1, "text": "ünïcødé"}),
            requires=spec.pop("requires", {"work"}),
            labels=spec.pop("labels", {"team": "a"}),
            **spec,
        ),
        state=state,
        submitted=now,
        times={TaskState.PENDING.value: now, state.value: now + 1.5},
    )
    if state is not TaskState.PENDING:
        record.attempts, record.agent_id = 1, "agent-1"
    if state.terminal:
        record.outcome = Outcome(state, value=[1, 2], error=None, agent_id="agent-1", attempts=1)
    return record


def same(found: Task | None, expected: Task) -> None:
    assert found is not None, f"task {expected.id} is missing"
    assert unstructure(found) == unstructure(expected)
