"""Bursts of work against real pools of local agents: the pool answers at once, on the raw
signal, and never proposes to shrink from an average that has not warmed up."""

from __future__ import annotations

import asyncio
import itertools
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import alveary
from alveary import TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "plugins" / "autoscale.md"
GATE: asyncio.Event | None = None


async def gated(task: alveary.Task) -> Any:
    """Hold every task until the test opens the gate."""
    assert GATE is not None
    await GATE.wait()
    return task.payload


async def short(task: alveary.Task) -> Any:
    """A short task: a tenth of a second."""
    await asyncio.sleep(0.1)
    return task.payload


async def tiny(task: alveary.Task) -> Any:
    """A tiny task: a hundredth of a second."""
    await asyncio.sleep(0.01)
    return task.payload


class Ticks:
    """Counts the orchestrator's ticks, so a test can let the scaler see an idle pool."""

    name = "ticks"

    def __init__(self) -> None:
        self.count = 0

    @alveary.hookimpl
    def alveary_tick(self, orchestrator: alveary.Orchestrator, now: float) -> None:
        self.count += 1


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def docs_config() -> dict[str, Any]:
    """The first TOML example of docs/plugins/autoscale.md, its handler replaced by ``gated``."""
    block = re.search(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert block is not None
    data: dict[str, Any] = tomllib.loads(block.group(1))
    data["pools"][0]["options"]["handler"] = f"{__name__}:gated"
    return data


def pool_config(handler: str, size: dict[str, int], **policy: Any) -> dict[str, Any]:
    return {
        "plugins": {"enabled": ["autoscale"], "autoscale": {"pools": {"w": policy}}},
        "pools": [
            {
                "name": "w",
                "size": size,
                "capabilities": ["work"],
                "options": {"handler": f"{__name__}:{handler}"},
            }
        ],
    }


def decisions(recorder: EventRecorder) -> list[Mapping[str, Any]]:
    return [e.data for e in recorder.events if e.type == "autoscale.decision"]


async def test_a_burst_of_short_tasks_grows_the_pool_while_they_are_queued() -> None:
    recorder, ticks = EventRecorder(), Ticks()
    async with orchestrator(pool_config("short", {"min": 1, "max": 16}), recorder, ticks) as orch:
        pool = orch.pools["w"]
        await until(lambda: len(pool.agents) == 1 and ticks.count >= 3)
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(400)]
        peak = 0
        while any(h.task.state is TaskState.QUEUED for h in handles):
            peak = max(peak, len(pool.agents))
            await asyncio.sleep(0.01)
        outcomes = [await h.result(timeout=60) for h in handles]
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 400
        # 400 tasks of >= 0.1 s are >= 40 s of work: the work signal wants
        # 1 + 399 * 0.1 / 5 = 9 agents to do them within its 5 s horizon
        assert peak >= 8, f"the pool peaked at {peak} agents while tasks were queued"
        first = decisions(recorder)[0]
        assert (first["direction"], first["from"], first["to"]) == ("up", 1, 2)


async def test_the_docs_config_answers_a_burst_with_scale_ups_only_within_one_cool_down() -> None:
    global GATE
    GATE = asyncio.Event()
    recorder, ticks = EventRecorder(), Ticks()
    async with orchestrator(docs_config(), recorder, ticks) as orch:
        pool = orch.pools["reviewers"]
        await until(lambda: len(pool.agents) == 2 and ticks.count >= 3)
        handles = [await orch.submit(TaskSpec("r", i, requires={"review"})) for i in range(200)]
        await until(lambda: bool(decisions(recorder)))
        first = decisions(recorder)[0]
        assert first["direction"] == "up", first
        # the work signal on the raw queue: the tasks in flight plus the queued ones done
        # within 10 s at 1 s each (no duration is known yet), in whole agents
        seen, target = first["inputs"], first["proposals"]["work"]
        assert target == seen["in_flight"] + seen["queued"] // 10 >= 19
        await until(lambda: len(pool.agents) >= target)
        reached = next(i for i, d in enumerate(decisions(recorder)) if d["to"] >= target)
        on_the_way = decisions(recorder)[: reached + 1]
        assert all(d["direction"] == "up" and d["held"] is None for d in on_the_way), on_the_way
        sizes = [2] + [d["to"] for d in on_the_way]
        steps = itertools.pairwise(sizes)
        assert all(b == min(2 * a, a + 5, target) for a, b in steps), f"{sizes}: double, then 5"
        GATE.set()
        outcomes = [await h.result(timeout=60) for h in handles]
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 200


async def test_thousands_of_tasks_at_once_all_finish_once_on_a_bounded_pool() -> None:
    recorder = EventRecorder()
    async with orchestrator(pool_config("tiny", {"min": 1, "max": 16}), recorder) as orch:
        pool = orch.pools["w"]
        await until(lambda: len(pool.agents) == 1)
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(3000)]
        sizes: set[int] = set()

        async def watch() -> None:
            while True:
                sizes.add(len(pool.agents))
                await asyncio.sleep(0.01)

        watcher = asyncio.ensure_future(watch())
        outcomes = [await h.result(timeout=120) for h in handles]
        watcher.cancel()
        assert sorted(o.value for o in outcomes) == list(range(3000))
        assert {o.state for o in outcomes} == {TaskState.SUCCEEDED}
        assert 1 < max(sizes) <= 16
        assert all(1 <= d["to"] <= 16 for d in decisions(recorder))


async def test_a_burst_on_a_pool_at_max_holds_and_says_so() -> None:
    global GATE
    GATE = asyncio.Event()
    recorder = EventRecorder()
    async with orchestrator(pool_config("gated", {"min": 1, "max": 4}), recorder) as orch:
        pool = orch.pools["w"]
        pool.desired = 4
        await until(lambda: len(pool.agents) == 4)
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(200)]
        await until(lambda: any(d["held"] == "at max size 4" for d in decisions(recorder)))
        assert len(pool.agents) == pool.desired == 4
        assert all(d["to"] == 4 for d in decisions(recorder))
        GATE.set()
        outcomes = [await h.result(timeout=60) for h in handles]
        assert {o.state for o in outcomes} == {TaskState.SUCCEEDED}


async def test_a_burst_racing_a_shrinking_pool_loses_no_task_and_regrows_it() -> None:
    global GATE
    GATE = asyncio.Event()
    recorder = EventRecorder()
    quick = {"smoothing": 0.0, "down_cooldown": 0.0, "down_confirm": 1, "max_down": 8}
    data = pool_config("gated", {"min": 1, "max": 8}, **quick)
    async with orchestrator(data, recorder) as orch:
        pool = orch.pools["w"]
        pool.desired = 8
        await until(lambda: any(d["direction"] == "down" for d in decisions(recorder)))
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(100)]
        await until(lambda: len(pool.agents) == 8 and all(h.task.agent_id for h in handles[:8]))
        running = {h.task.agent_id for h in handles if h.task.state is TaskState.RUNNING}
        assert running <= set(pool.agents), "no agent with work was taken away"
        GATE.set()
        outcomes = [await h.result(timeout=60) for h in handles]
        assert sorted(o.value for o in outcomes) == list(range(100))
        assert {o.state for o in outcomes} == {TaskState.SUCCEEDED}
        await until(lambda: len(pool.agents) == pool.desired == 1)
