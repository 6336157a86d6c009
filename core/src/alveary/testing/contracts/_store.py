"""The store contract: what every ``alveary.Store`` does, durable or not."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest

from ..._components import Store
from ..._records import AgentSpec, Task, TaskSpec
from ..._states import TaskState
from .._orchestrator import echo
from .._wait import until
from ._common import Contract, run
from ._samples import VALUES, same, task
from ._stateful import run_stateful


class StoreContract(Contract):
    """Fixtures to give: ``plugin``, the plugin providing the store (through
    ``alveary_stores``), fresh and empty for each test and not yet opened; for a durable store
    also ``reopen``, a callable returning a second plugin over the same data, as after a
    restart (or as a second process sharing it)."""

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

    def opened(self, store: Store, body: Callable[[], Awaitable[None]]) -> None:
        """Run ``body`` with ``store`` open, and close it after."""

        async def around() -> None:
            await store.open()
            try:
                await body()
            finally:
                await store.close()

        run(around, self.deadline)

    def test_is_a_store(self, store: Store) -> None:
        assert isinstance(store, Store)
        assert isinstance(store.durable, bool)

    def test_a_saved_task_reads_back_whole(self, store: Store) -> None:
        async def body() -> None:
            for state in TaskState:
                saved = task(state, priority="high", timeout=12.5, idempotency_key=state.value)
                store.save_task(saved)
                same(store.get_task(saved.id), saved)
                await store.commit()
                same(store.get_task(saved.id), saved)

        self.opened(store, body)

    def test_an_unknown_task_is_none(self, store: Store) -> None:
        async def body() -> None:
            store.save_task(task())
            assert store.get_task("no-such-task") is None

        self.opened(store, body)

    def test_saving_again_updates_the_same_task(self, store: Store) -> None:
        async def body() -> None:
            record = task()
            store.save_task(record)
            for state in (TaskState.QUEUED, TaskState.RUNNING, TaskState.SUCCEEDED):
                later = task(state)
                later.id = record.id
                store.save_task(later)
                same(store.get_task(record.id), later)
                if state is TaskState.RUNNING:
                    await store.commit()
            assert [t.id for t in store.tasks()].count(record.id) == 1

        self.opened(store, body)

    def test_tasks_lists_each_task_once(self, store: Store) -> None:
        async def body() -> None:
            saved = [task(state) for state in TaskState for _ in range(3)]
            for i, record in enumerate(saved):
                store.save_task(record)
                if i % 4 == 0:
                    await store.commit()
            ids = [t.id for t in store.tasks()]
            assert sorted(ids) == sorted(t.id for t in saved)

        self.opened(store, body)

    def test_unfinished_is_exactly_the_tasks_not_terminal(self, store: Store) -> None:
        async def body() -> None:
            saved = [task(state) for state in TaskState for _ in range(2)]
            for record in saved:
                store.save_task(record)
            expected = {t.id for t in saved if not t.state.terminal}
            assert {t.id for t in store.unfinished()} == expected
            await store.commit()
            for record in saved:
                if not record.state.terminal:
                    done = task(TaskState.SUCCEEDED)
                    done.id = record.id
                    store.save_task(done)
            assert list(store.unfinished()) == []

        self.opened(store, body)

    def test_a_key_is_claimed_once(self, store: Store) -> None:
        async def body() -> None:
            assert store.claim("key", "t1") is None
            assert store.claim("key", "t2") == "t1"
            assert store.claim("key", "t1") is None, "the owner claiming again is no conflict"
            await store.commit()
            assert store.claim("other", "t2") is None
            assert store.claim("other", "t3") == "t2"
            assert store.claim("key", "t3") == "t1"

        self.opened(store, body)

    def test_values_round_trip(self, store: Store) -> None:
        async def body() -> None:
            for i, value in enumerate(VALUES):
                store.put_value("plugin", f"key{i}", value)
            await store.commit()
            for i, value in enumerate(VALUES):
                found = store.get_value("plugin", f"key{i}")
                assert found == value
                assert type(found) is type(value), (found, value)

        self.opened(store, body)

    def test_values_are_per_namespace_and_none_deletes(self, store: Store) -> None:
        async def body() -> None:
            assert store.get_value("a", "k") is None
            store.put_value("a", "k", 1)
            store.put_value("b", "k", 2)
            store.put_value("a", "k", {"now": "replaced"})
            assert (store.get_value("a", "k"), store.get_value("b", "k")) == (
                {"now": "replaced"},
                2,
            )
            store.put_value("a", "k", None)
            assert (store.get_value("a", "k"), store.get_value("b", "k")) == (None, 2)

        self.opened(store, body)

    def test_add_value_is_atomic(self, store: Store) -> None:
        async def body() -> None:
            assert await store.add_value("counters", "n", 1) == 1
            results = await asyncio.gather(
                *(store.add_value("counters", "n", 1) for _ in range(50))
            )
            assert sorted(results) == [float(n) for n in range(2, 52)]
            assert await store.add_value("counters", "n", -1.5) == 49.5
            assert store.get_value("counters", "n") == 49.5
            assert await store.add_value("counters", "other", 0) == 0

        self.opened(store, body)

    def test_commit_is_shared_by_concurrent_callers(self, store: Store) -> None:
        async def body() -> None:
            records = [task() for _ in range(200)]

            async def one(record: Task) -> None:
                store.save_task(record)
                await store.commit()

            await asyncio.gather(*(one(record) for record in records))
            for record in records:
                same(store.get_task(record.id), record)

        self.opened(store, body)

    @pytest.fixture
    def crash(self) -> Callable[[Store], Awaitable[None]] | None:
        """Override for a store one process holds alone: a callable that leaves the store as
        a killed process would (what the OS releases is released, nothing more is written).
        The default, None, keeps the store open while a second one reads it."""
        return None

    def test_a_commit_survives_a_crash(
        self,
        store: Store,
        reopen: Callable[[], object],
        crash: Callable[[Store], Awaitable[None]] | None,
    ) -> None:
        """What ``submit`` relies on: a process that dies once ``commit`` returned loses none
        of what was saved before it."""
        committed, key = task(TaskState.QUEUED), uuid.uuid4().hex

        async def body() -> None:
            await store.open()
            store.save_task(committed)
            store.claim(key, committed.id)
            store.put_value("plugin", key, [1, 2])
            await store.commit()
            if crash is not None:
                await crash(store)
            again: Store = self.provided(reopen())[1]
            await again.open()
            try:
                same(again.get_task(committed.id), committed)
                assert again.claim(key, "someone-else") == committed.id
                assert again.get_value("plugin", key) == [1, 2]
            finally:
                await again.close()
                if crash is None:
                    await store.close()

        run(body, self.deadline)

    def test_a_durable_store_keeps_everything_across_a_restart(
        self, store: Store, reopen: Callable[[], object]
    ) -> None:
        running, finished = task(TaskState.RUNNING), task(TaskState.FAILED)

        async def first() -> None:
            for record in (running, finished):
                store.save_task(record)
            store.claim("key", running.id)
            store.put_value("plugin", "profile", VALUES[-1])
            await store.add_value("plugin", "count", 2)

        self.opened(store, first)
        again: Store = self.provided(reopen())[1]

        async def second() -> None:
            same(again.get_task(running.id), running)
            same(again.get_task(finished.id), finished)
            assert [t.id for t in again.unfinished()] == [running.id]
            assert again.claim("key", "someone-else") == running.id
            assert again.get_value("plugin", "profile") == VALUES[-1]
            assert await again.add_value("plugin", "count", 1) == 3

        self.opened(again, second)

    def test_the_protocol_holds_under_any_sequence(self, store: Store) -> None:
        """A hypothesis stateful test: the store against a model, in any order of calls."""
        run_stateful(store, self.deadline)

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
        self, store: Store, reopen: Callable[[], object]
    ) -> None:
        records = [task(state, payload=i) for i, state in enumerate(TaskState)]

        async def first() -> None:
            for record in records:
                store.save_task(record)

        self.opened(store, first)
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
