"""The Store protocol as a hypothesis state machine: any sequence of saves, commits, claims
and values, checked after every step against a model of what the store must hold."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from ..._components import Store
from ..._converter import unstructure
from ..._states import TaskState
from ._samples import VALUES, task

STATES = st.sampled_from(list(TaskState))


def run_stateful(store: Store, deadline: float) -> None:
    """Drive ``store`` (not yet open) through generated sequences. Every run uses ids of its
    own, so one store serves them all and what earlier runs left is ignored."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asyncio.wait_for(store.open(), deadline))

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.run = uuid.uuid4().hex[:8]
            self.tasks: dict[str, dict[str, Any]] = {}
            self.keys: dict[str, str] = {}
            self.values: dict[str, Any] = {}
            self.counter = 0.0

        def ours(self, name: str) -> str:
            return f"{self.run}-{name}"

        @rule(n=st.integers(0, 5), state=STATES)
        def save(self, n: int, state: TaskState) -> None:
            record = task(state)
            record.id = self.ours(f"t{n}")
            store.save_task(record)
            self.tasks[record.id] = unstructure(record)

        @rule()
        def commit(self) -> None:
            loop.run_until_complete(asyncio.wait_for(store.commit(), deadline))

        @rule(k=st.integers(0, 3), n=st.integers(0, 5))
        def claim(self, k: int, n: int) -> None:
            key, task_id = self.ours(f"k{k}"), self.ours(f"t{n}")
            owner = self.keys.setdefault(key, task_id)
            assert store.claim(key, task_id) == (None if owner == task_id else owner)

        @rule(k=st.integers(0, 3), value=st.sampled_from([None, *VALUES]))
        def put(self, k: int, value: Any) -> None:
            store.put_value("stateful", self.ours(f"v{k}"), value)
            if value is None:
                self.values.pop(self.ours(f"v{k}"), None)
            else:
                self.values[self.ours(f"v{k}")] = value

        @rule(delta=st.integers(-3, 3))
        def add(self, delta: int) -> None:
            self.counter += delta
            found = loop.run_until_complete(
                asyncio.wait_for(store.add_value("stateful", self.ours("n"), delta), deadline)
            )
            assert found == self.counter

        @invariant()
        def holds_the_model(self) -> None:
            for task_id, expected in self.tasks.items():
                found = store.get_task(task_id)
                assert found is not None, task_id
                assert unstructure(found) == expected, task_id
            ours = {t.id for t in store.unfinished() if t.id.startswith(self.run)}
            assert ours == {i for i, t in self.tasks.items() if not TaskState(t["state"]).terminal}
            for key, value in self.values.items():
                assert store.get_value("stateful", key) == value

    try:
        run_state_machine_as_test(  # type: ignore[no-untyped-call,unused-ignore]
            Machine,
            settings=settings(
                max_examples=25,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.run_until_complete(asyncio.wait_for(store.close(), deadline))
        loop.close()
