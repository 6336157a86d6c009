"""What the kernel asks of a store: opened before recovery, committed before ``submit``
returns, closed within the shutdown budget; and the dead-letter list re-queued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from alveary import (
    AgentSpec,
    AlvearyError,
    Denied,
    Orchestrator,
    PermanentFailure,
    StandingBy,
    StartFailed,
    StoreError,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary._builtins.memory import MemoryStore
from alveary.testing import echo, orchestrator, until

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


class Lease:
    """A lease two in-process stores share, as replicas share one in Redis."""

    def __init__(self) -> None:
        self.holder: str | None = None
        self.freed = asyncio.Event()
        self.lost: dict[str, Callable[[str], None]] = {}


class SharedStore(ProbeStore):
    """A store that must be led before it is opened, the way a shared one is."""

    def __init__(self, lease: Lease, me: str) -> None:
        super().__init__()
        self.lease, self.me = lease, me
        self.closed = False

    async def lead(self, standing_by: Callable[[str], None], lost: Callable[[str], None]) -> None:
        while self.lease.holder not in (None, self.me):
            standing_by(self.lease.holder)
            self.lease.freed.clear()
            await self.lease.freed.wait()
        self.lease.holder = self.me
        self.lease.lost[self.me] = lost

    async def close(self) -> None:
        self.closed = True
        if self.lease.holder == self.me:
            self.lease.holder = None
            self.lease.freed.set()


async def test_a_standby_refuses_work_naming_the_leader_then_takes_over() -> None:
    lease = Lease()
    leader, standby = make(SharedStore(lease, "host-a:1")), make(SharedStore(lease, "host-b:2"))
    await leader.start()
    starting = asyncio.ensure_future(standby.start())
    await until(lambda: standby.standby is not None)
    assert standby.standby == "host-a:1"
    with pytest.raises(StandingBy, match="standing by: host-a:1 leads this store") as refused:
        await standby.submit(TaskSpec("work"))
    assert refused.value.leader == "host-a:1"
    assert not starting.done()
    await leader.stop()
    await asyncio.wait_for(starting, timeout=30)
    assert standby.standby is None
    await standby.register(AgentSpec("a", options={"handler": echo}))
    assert (await (await standby.submit(TaskSpec("work", 7))).result(timeout=30)).value == 7
    await standby.stop()


async def test_a_leader_that_loses_the_lease_stops_itself() -> None:
    lease = Lease()
    store = SharedStore(lease, "host-a:1")
    orch = make(store)
    await orch.start()
    await orch.register(AgentSpec("a", options={"handler": echo}))
    lease.lost["host-a:1"]("host-b:2 took the lease")
    await asyncio.wait_for(orch.stopped.wait(), timeout=30)
    assert orch.lost_lease == "host-b:2 took the lease"
    assert store.closed
    with pytest.raises(AlvearyError, match="not running"):
        await orch.submit(TaskSpec("work"))


async def test_a_standby_stopped_before_it_leads_closes_its_store() -> None:
    lease = Lease()
    lease.holder = "host-a:1"
    store = SharedStore(lease, "host-b:2")
    orch = make(store)
    starting = asyncio.ensure_future(orch.start())
    await until(lambda: orch.standby is not None)
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    assert store.closed
    assert lease.holder == "host-a:1"


async def test_a_plugin_that_cannot_start_its_service_fails_the_start() -> None:
    """``StartFailed`` from ``alveary_startup`` is not one plugin's failure but the start's:
    the plugins that started are shut down again and the store is closed."""
    calls: list[str] = []

    class Early:
        name = "early"

        @hookimpl
        def alveary_startup(self) -> None:
            calls.append("early up")

        @hookimpl
        def alveary_shutdown(self) -> None:
            calls.append("early down")

    class Server:
        name = "server"

        @hookimpl
        def alveary_startup(self) -> None:
            raise StartFailed("cannot listen on 127.0.0.1:8787: Address already in use")

    store = ProbeStore()
    orch = Orchestrator.from_config(
        {**FAST, "plugins": {"disabled": ["memory"]}}, [Provides(store), Early(), Server()]
    )
    with pytest.raises(StartFailed, match="Address already in use"):
        await orch.start()
    assert calls == ["early up", "early down"]
    assert orch.metrics().plugin_failures == {}
    with pytest.raises(AlvearyError, match="not running"):
        await orch.submit(TaskSpec("work"))
