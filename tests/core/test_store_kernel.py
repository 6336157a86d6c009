"""What the kernel asks of a store: opened before recovery, committed before ``submit``
returns, closed within the shutdown budget; and the dead-letter list re-queued."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alveary import (
    AgentSpec,
    AlvearyError,
    Denied,
    Orchestrator,
    PermanentFailure,
    StoreError,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary._builtins.memory import MemoryStore
from alveary.testing import echo, orchestrator

FAST = {"orchestrator": {"store": "probe", "start_timeout": 0.3, "cancel_grace": 0.1}}


class ProbeStore(MemoryStore):
    """A memory store that says it is durable and records what the kernel asked of it."""

    durable = True

    def __init__(self, *, open_with: BaseException | None = None, hang: str = "") -> None:
        super().__init__(1000)
        self.open_with, self.hang = open_with, hang
        self.saved: list[str] = []
        self.committed: set[str] = set()

    async def open(self) -> None:
        if self.hang == "open":
            await asyncio.Event().wait()
        if self.open_with is not None:
            raise self.open_with

    def save_task(self, task: Task) -> None:
        self.saved.append(task.id)
        super().save_task(task)

    async def commit(self) -> None:
        await asyncio.sleep(0)  # a real store writes from elsewhere meanwhile
        self.committed.update(self.saved)

    async def close(self) -> None:
        if self.hang == "close":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:  # ignored, for longer than the kernel waits
                await asyncio.sleep(2)


class Provides:
    name = "probe"

    def __init__(self, store: ProbeStore) -> None:
        self.store = store

    @hookimpl
    def alveary_stores(self) -> dict[str, Any]:
        return {"probe": self.store}


def make(store: ProbeStore) -> Orchestrator:
    return Orchestrator.from_config(
        {**FAST, "plugins": {"disabled": ["memory"]}}, [Provides(store)]
    )


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (ProbeStore(open_with=StoreError("alveary.db: not a database")), "alveary.db: not a"),
        (ProbeStore(open_with=OSError("disk on fire")), "store 'probe' could not open: disk on"),
        (ProbeStore(hang="open"), "store 'probe' did not open within 0.3 s"),
    ],
    ids=["store-error", "other-error", "hangs"],
)
async def test_a_store_that_cannot_open_fails_the_start_in_one_line(
    store: ProbeStore, message: str
) -> None:
    orch = make(store)
    with pytest.raises(StoreError, match=message) as caught:
        await orch.start()
    assert "\n" not in str(caught.value)
    with pytest.raises(AlvearyError, match="not running"):
        await orch.submit(TaskSpec("work"))


async def test_a_submit_returns_only_once_committed() -> None:
    store = ProbeStore()
    async with make(store) as orch:
        handles = await asyncio.gather(*(orch.submit(TaskSpec("work", i)) for i in range(50)))
        assert {h.id for h in handles} <= store.committed
        again = await orch.submit(TaskSpec("work", idempotency_key="k"))
        assert (await orch.submit(TaskSpec("work", idempotency_key="k"))).id == again.id
        assert again.id in store.committed


async def test_a_store_that_hangs_in_close_does_not_hold_the_stop() -> None:
    orch = make(ProbeStore(hang="close"))
    await orch.start()
    await asyncio.wait_for(orch.stop(timeout=0.2), timeout=30)


async def test_recovered_tasks_are_placed_by_priority_then_age() -> None:
    store = ProbeStore()
    for i, priority in enumerate(["low", "high", "medium", "high"]):
        record = Task(f"old-{i}", TaskSpec("work", i, priority=priority), submitted=float(i))
        record.state = TaskState.RUNNING
        store.save_task(record)
    order: list[Any] = []

    async def note(task: Task) -> Any:
        order.append(task.payload)
        return task.payload

    async with make(store) as orch:
        await orch.register(AgentSpec("a", options={"handler": note}))
        await asyncio.gather(*(orch.task(f"old-{i}").result(timeout=30) for i in range(4)))
    assert order == [1, 3, 2, 0]


async def test_a_dead_task_is_requeued_with_a_fresh_budget() -> None:
    runs: list[int] = []

    async def flaky(task: Task) -> Any:
        runs.append(task.attempts)
        if len(runs) <= 2:
            raise RuntimeError("not yet")
        return "done"

    async with orchestrator() as orch:
        await orch.register(AgentSpec("a", options={"handler": flaky}))
        handle = await orch.submit(TaskSpec("work", max_attempts=2))
        assert (await handle.result(timeout=30)).state is TaskState.DEAD
        assert [t.id for t in orch.tasks(TaskState.DEAD)] == [handle.id]
        again = await orch.requeue(handle.id)
        outcome = await again.result(timeout=30)
        assert (outcome.state, outcome.value, outcome.attempts) == (TaskState.SUCCEEDED, "done", 1)
        assert orch.tasks(TaskState.DEAD) == []
        with pytest.raises(AlvearyError, match="is succeeded; only dead or failed"):
            await orch.requeue(handle.id)


async def test_a_permanently_failed_task_can_be_requeued() -> None:
    calls = []

    async def once_bad(task: Task) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise PermanentFailure("bad input")
        return "fixed"

    async with orchestrator() as orch:
        await orch.register(AgentSpec("a", options={"handler": once_bad}))
        handle = await orch.submit(TaskSpec("work"))
        assert (await handle.result(timeout=30)).state is TaskState.FAILED
        assert (await (await orch.requeue(handle.id)).result(timeout=30)).value == "fixed"
        assert orch.metrics().tasks == {"succeeded": 1}


async def test_requeue_is_checked_by_the_gate() -> None:
    class NoRequeue:
        name = "no-requeue"

        @hookimpl
        def alveary_authorize(self, action: str) -> bool | None:
            return False if action == "task.requeue" else None

    async with orchestrator({}, NoRequeue()) as orch:
        await orch.register(AgentSpec("a", options={"handler": echo}))
        handle = await orch.submit(TaskSpec("work"))
        await handle.result(timeout=30)
        with pytest.raises(Denied, match=r"anonymous may not task\.requeue work"):
            await orch.requeue(handle.id)
