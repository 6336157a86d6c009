"""The plugin scaling a real pool of local agents: up under queued work, down to idle agents
only once the work is done, every change explained by an event, no task lost."""

from __future__ import annotations

import asyncio
from typing import Any

import alveary
import pytest
from alveary import TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until

GATE: asyncio.Event | None = None


async def gated(task: alveary.Task) -> Any:
    """A handler that holds every task until the test opens the gate."""
    assert GATE is not None
    await GATE.wait()
    return task.payload


FAST = {
    "smoothing": 0.0,
    "up_cooldown": 0.0,
    "down_cooldown": 0.0,
    "down_confirm": 2,
    "max_up": 4,
    "max_down": 2,
}


def config(**policy: Any) -> dict[str, Any]:
    return {
        "plugins": {"enabled": ["autoscale"], "autoscale": {"pools": {"w": {**FAST, **policy}}}},
        "pools": [
            {
                "name": "w",
                "size": {"min": 1, "max": 8},
                "capabilities": ["work"],
                "options": {"handler": f"{__name__}:gated"},
            }
        ],
    }


async def test_a_pool_grows_under_queued_work_and_shrinks_to_idle_agents_after() -> None:
    global GATE
    GATE = asyncio.Event()
    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        pool = orch.pools["w"]
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(20)]
        await until(lambda: len(pool.agents) == 8)
        decisions = [e.data for e in recorder.events if e.type == "autoscale.decision"]
        ups = [d for d in decisions if d["direction"] == "up"]
        assert (ups[0]["from"], ups[0]["to"]) == (1, 2), "one agent may grow by one (50%)"
        assert all(d["to"] - d["from"] <= 4 for d in ups)
        assert ups[0]["inputs"]["queued"] >= 15
        assert "work wants" in ups[0]["reason"]
        scaled = [e.data for e in recorder.events if e.type == "pool.scaled"]
        assert {s["by"] for s in scaled} == {"autoscale"}
        GATE.set()
        outcomes = [await h.result(timeout=10) for h in handles]
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 20
        await until(lambda: len(pool.agents) == 1)
        downs = [
            e.data
            for e in recorder.events
            if e.type == "autoscale.decision" and e.data["direction"] == "down"
        ]
        assert downs
        assert all(d["from"] - d["to"] <= 2 for d in downs)
        assert all(d["inputs"]["idle"] >= d["from"] - d["to"] for d in downs)
        reasons = [e.data["reason"] for e in recorder.events if e.type == "agent.stopped"]
        assert reasons.count("scaled down") == 7


async def test_busy_agents_are_never_removed_even_under_memory_pressure() -> None:
    global GATE
    GATE = asyncio.Event()
    recorder = EventRecorder()
    data = config(shed_above=0.0, target_duration=0.0, scale_up_above=1.0, scale_down_below=0.0)
    data["pools"][0]["size"] = {"min": 0, "max": 8}
    async with orchestrator(data, recorder) as orch:
        pool = orch.pools["w"]
        pool.desired = 4  # as if an operator had asked for four
        await until(lambda: len(pool.agents) >= 1)
        handle = await orch.submit(TaskSpec("t", "kept", requires={"work"}))
        busy = handle.task.agent_id
        await until(lambda: pool.agents == [busy])
        sheds = [
            e.data
            for e in recorder.events
            if e.type == "autoscale.decision" and e.data["direction"] == "shed"
        ]
        assert sheds
        assert sheds[0]["reason"].startswith("memory ")
        assert all(0 <= d["inputs"]["memory"] <= 1 for d in sheds)
        GATE.set()
        outcome = await handle.result(timeout=5)
        assert (outcome.state, outcome.agent_id) == (TaskState.SUCCEEDED, busy)


def test_a_policy_for_an_undeclared_pool_is_a_config_error() -> None:
    data = config()
    data["plugins"]["autoscale"]["pools"]["nope"] = {}
    with pytest.raises(alveary.ConfigError) as info:
        alveary.Orchestrator.from_config(data)
    assert info.value.lines == [
        "<config>: plugins.autoscale.pools.nope: a policy for pool 'nope', which [[pools]] "
        "does not declare (declared: w)"
    ]
