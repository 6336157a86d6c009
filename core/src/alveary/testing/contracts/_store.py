"""The store contract: what every ``alveary.Store`` does, durable or not."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from ..._components import Store
from ..._converter import unstructure
from ..._records import AgentSpec, Outcome, Task, TaskSpec
from ..._states import TaskState
from .._orchestrator import echo
from .._wait import until
from ._common import Contract, run

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
        submitted=1_700_000_000.0,
        times={TaskState.PENDING.value: 1_700_000_000.0, state.value: 1_700_000_001.5},
    )
    if state is not TaskState.PENDING:
        record.attempts, record.agent_id = 1, "agent-1"
    if state.terminal:
        record.outcome = Outcome(state, value=[1, 2], error=None, agent_id="agent-1", attempts=1)
    return record


def same(found: Task | None, expected: Task) -> None:
    assert found is not None, f"task {expected.id} is missing"
    assert unstructure(found) == unstructure(expected)


class StoreContract(Contract):
    """Fixtures to give: ``plugin``, the plugin providing the store (through
    ``alveary_stores``), fresh and empty for each test; for a durable store also ``reopen``,
    a callable returning a second plugin over the same data, as after a restart."""

    hook: ClassVar[str] = "alveary_stores"

    @pytest.fixture
    def plugin(self) -> object:
        pytest.fail("define a `plugin` fixture returning the plugin that provides the store")

    @pytest.fixture
    def store(self, plugin: object) -> Store:
        store: Store = self.provided(plugin)[1]
        return store

    @pytest.fixture
    def reopen(self, store: Store) -> Callable[[], object]:
        if store.durable:
            pytest.fail("a durable store needs a `reopen` fixture: its data after a restart")
        pytest.skip("the store is not durable")

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)
        assert isinstance(store.durable, bool)

    def test_a_saved_task_reads_back_whole(self, store: Store) -> None:
        for state in TaskState:
            saved = task(state, priority="high", timeout=12.5, idempotency_key="k-" + state.value)
            store.save_task(saved)
            same(store.get_task(saved.id), saved)

    def test_an_unknown_task_is_none(self, store: Store) -> None:
        store.save_task(task())
        assert store.get_task("no-such-task") is None

    def test_saving_again_updates_the_same_task(self, store: Store) -> None:
        record = task()
        store.save_task(record)
        for state in (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED):
            later = task(state)
            later.id = record.id
            store.save_task(later)
            same(store.get_task(record.id), later)
        assert [t.id for t in store.tasks()].count(record.id) == 1

    def test_tasks_lists_each_task_once(self, store: Store) -> None:
        saved = [task(state) for state in TaskState for _ in range(3)]
        for record in saved:
            store.save_task(record)
        ids = [t.id for t in store.tasks()]
        assert sorted(ids) == sorted(t.id for t in saved)

    def test_unfinished_is_exactly_the_tasks_not_terminal(self, store: Store) -> None:
        saved = [task(state) for state in TaskState for _ in range(2)]
        for record in saved:
            store.save_task(record)
        expected = {t.id for t in saved if not t.state.terminal}
        assert {t.id for t in store.unfinished()} == expected
        for record in saved:
            if not record.state.terminal:
                done = task(TaskState.SUCCEEDED)
                done.id = record.id
                store.save_task(done)
        assert list(store.unfinished()) == []

    def test_a_key_is_claimed_once(self, store: Store) -> None:
        assert store.claim("key", "t1") is None
        assert store.claim("key", "t2") == "t1"
        assert store.claim("key", "t1") is None, "the owner claiming again is no conflict"
        assert store.claim("other", "t2") is None
        assert store.claim("other", "t3") == "t2"

    def test_values_round_trip(self, store: Store) -> None:
        for i, value in enumerate(VALUES):
            store.put_value("plugin", f"key{i}", value)
        for i, value in enumerate(VALUES):
            found = store.get_value("plugin", f"key{i}")
            assert found == value
            assert type(found) is type(value), (found, value)

    def test_values_are_per_namespace_and_none_deletes(self, store: Store) -> None:
        assert store.get_value("a", "k") is None
        store.put_value("a", "k", 1)
        store.put_value("b", "k", 2)
        store.put_value("a", "k", {"now": "replaced"})
        assert (store.get_value("a", "k"), store.get_value("b", "k")) == ({"now": "replaced"}, 2)
        store.put_value("a", "k", None)
        assert (store.get_value("a", "k"), store.get_value("b", "k")) == (None, 2)

    def test_a_durable_store_keeps_everything_across_a_restart(
        self, plugin: object, store: Store, reopen: Callable[[], object]
    ) -> None:
        running, finished = task(TaskState.RUNNING), task(TaskState.FAILED)
        for record in (running, finished):
            store.save_task(record)
        store.claim("key", running.id)
        store.put_value("plugin", "profile", VALUES[-1])
        store.close()
        again: Store = self.provided(reopen())[1]
        same(again.get_task(running.id), running)
        same(again.get_task(finished.id), finished)
        assert [t.id for t in again.unfinished()] == [running.id]
        assert again.claim("key", "someone-else") == running.id
        assert again.get_value("plugin", "profile") == VALUES[-1]
        again.close()

    def test_an_orchestrator_runs_on_it(self, plugin: object, store: Store) -> None:
        name = self.provided(plugin)[0]

        async def body() -> None:
            async with self.running(plugin, {"orchestrator": {"store": name}}) as orch:
                assert orch.store is store
                await orch.register(AgentSpec("a", {"work"}, capacity=4, options={"handler": echo}))
                handles = [
                    await orch.submit(TaskSpec("work", i, requires={"work"})) for i in range(20)
                ]
                keyed = await orch.submit(TaskSpec("work", "k", idempotency_key="once"))
                again = await orch.submit(TaskSpec("work", "k", idempotency_key="once"))
                assert again.id == keyed.id
                for i, handle in enumerate([*handles, keyed]):
                    outcome = await handle.result(timeout=self.deadline)
                    assert outcome.ok, outcome
                    assert outcome.value == (i if handle is not keyed else "k")
                    found = store.get_task(handle.id)
                    assert found is not None
                    assert found.state is TaskState.SUCCEEDED

        run(body, self.deadline)

    def test_an_orchestrator_recovers_its_unfinished_tasks(
        self, plugin: object, store: Store, reopen: Callable[[], object]
    ) -> None:
        records = [task(state, payload=i) for i, state in enumerate(TaskState)]
        for record in records:
            store.save_task(record)
        store.close()
        again = reopen()
        name, reopened = self.provided(again)

        async def body() -> None:
            async with self.running(again, {"orchestrator": {"store": name}}) as orch:
                await orch.register(AgentSpec("a", {"work"}, capacity=4, options={"handler": echo}))
                for record in records:
                    expected = TaskState.SUCCEEDED if not record.state.terminal else record.state

                    def settled(record: Task = record, expected: TaskState = expected) -> bool:
                        found = reopened.get_task(record.id)
                        return found is not None and found.state is expected

                    await until(settled, timeout=self.deadline)

        run(body, self.deadline)
