"""``alveary.results``: waiting for many tasks at once."""

from __future__ import annotations

import asyncio

import pytest
from alveary import AgentSpec, Orchestrator, Task, TaskSpec, TaskState, results


async def payload(task: Task) -> object:
    if task.payload == "boom":
        raise RuntimeError("boom")
    if task.payload == "slow":
        await asyncio.sleep(0.2)
    return task.payload


def agent(name: str, capability: str = "work", capacity: int = 4) -> AgentSpec:
    return AgentSpec(name, capability, capacity=capacity, options={"handler": payload})


def spec(value: object, requires: str = "work") -> TaskSpec:
    return TaskSpec("echo", payload=value, requires=requires, max_attempts=1)


async def test_outcomes_come_in_the_order_of_the_handles_finished_or_not() -> None:
    async with Orchestrator.from_config({}) as orch:
        await orch.register(agent("a"))
        first = await orch.submit(spec(0))
        await first.result(timeout=5)  # finished before the call
        handles = [first] + [await orch.submit(spec(v)) for v in ("slow", 2, "boom", 4)]
        outcomes = await results(handles, timeout=5)
    assert [o.value for o in outcomes] == [0, "slow", 2, None, 4]
    assert outcomes[3].state is TaskState.DEAD  # a failure is an outcome, never raised
    assert "boom" in (outcomes[3].error or "")


async def test_nothing_to_wait_for() -> None:
    assert await results([]) == []


async def test_a_timeout_raises_leaves_no_waiter_and_the_tasks_go_on() -> None:
    async with Orchestrator.from_config({}) as orch:
        handles = [await orch.submit(spec(i, requires="later")) for i in range(3)]
        with pytest.raises(asyncio.TimeoutError, match=r"^3 of 3 tasks still unfinished after"):
            await results(handles, timeout=0.05)
        assert orch._book._waiters == {}
        with pytest.raises(asyncio.TimeoutError, match=f"^task {handles[0].id} is still queued"):
            await handles[0].result(timeout=0)
        assert orch._book._waiters == {}
        await orch.register(agent("late", "later"))
        assert [o.value for o in await results(handles, timeout=5)] == [0, 1, 2]


async def test_a_cancelled_caller_leaves_no_waiter_and_the_tasks_go_on() -> None:
    async with Orchestrator.from_config({}) as orch:
        handles = [await orch.submit(spec(i, requires="later")) for i in range(3)]
        waiting = asyncio.ensure_future(results(handles))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert orch._book._waiters == {}
        assert all(h.task.state is TaskState.QUEUED for h in handles)
        await orch.register(agent("late", "later"))
        assert [o.value for o in await results(handles, timeout=5)] == [0, 1, 2]


async def test_handles_of_two_orchestrators_and_the_same_handle_twice() -> None:
    async with Orchestrator.from_config({}) as one, Orchestrator.from_config({}) as two:
        await one.register(agent("a"))
        await two.register(agent("b"))
        x = await one.submit(spec("slow"))
        y = await two.submit(spec("y"))
        outcomes = await results([x, y, x], timeout=5)
    assert [o.value for o in outcomes] == ["slow", "y", "slow"]


@pytest.mark.parametrize("timeout", [-1, float("nan"), "1", True])
async def test_a_timeout_that_is_no_number_of_seconds_is_refused(timeout: object) -> None:
    async with Orchestrator.from_config({}) as orch:
        handle = await orch.submit(spec(0, requires="nobody"))
        with pytest.raises(ValueError, match=r"^timeout: expected seconds >= 0 or None"):
            await handle.result(timeout)
        with pytest.raises(ValueError, match=r"^timeout: expected seconds >= 0 or None"):
            await results([handle], timeout)
        assert orch._book._waiters == {}
        await orch.register(agent("late", "nobody"))
        assert (await handle.result(float("inf"))).value == 0
