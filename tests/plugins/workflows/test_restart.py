"""A run survives a restart of its orchestrator with the sqlite store, stopped or killed: the
next orchestrator goes on from the finished steps, reattaches to the task of the step that was
running, and runs no finished step twice."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from alveary import AgentSpec, NotFound, Orchestrator, Task
from alveary.testing import orchestrator, until
from alveary_workflows import NAMESPACE, RunState, Step, StepState, Workflow, Workflows


class Handler:
    """Records each step it starts; ``hold`` steps wait until the orchestrator stops."""

    def __init__(self, started: list[str], hold: frozenset[str] = frozenset()) -> None:
        self.started, self.hold = started, hold

    async def __call__(self, task: Task) -> Any:
        step = task.payload["step"]
        self.started.append(step)
        if step in self.hold:
            await asyncio.Event().wait()
        return {"step": step, "got": task.payload.get("got")}


def durable(tmp_path: Path, resume: bool = True) -> dict[str, Any]:
    return {
        "orchestrator": {"store": "sqlite", "shutdown_timeout": 0.5},
        "plugins": {
            "enabled": ["state", "workflows"],
            "state": {"path": str(tmp_path / "tasks.db")},
            "workflows": {"resume": resume},
        },
    }


WORKFLOW = Workflow(
    "restart",
    [
        Step("a", "work", {"step": "a"}),
        Step("b", "work", {"step": "b", "got": "{a.value.step}"}, after=["a"]),
        Step("c", "work", {"step": "c", "got": "{b.value}"}),
    ],
)


def workflows(orch: Orchestrator) -> Workflows:
    plugin = orch.plugins["workflows"]
    assert isinstance(plugin, Workflows)
    return plugin


async def test_a_run_resumes_from_its_finished_steps(tmp_path: Path) -> None:
    started: list[str] = []
    async with orchestrator(durable(tmp_path)) as orch:
        handler = Handler(started, hold=frozenset({"b"}))
        await orch.register(AgentSpec("w1", {"work"}, capacity=2, options={"handler": handler}))
        run = await workflows(orch).start(WORKFLOW)
        await until(lambda: "b" in started and run.snapshot().steps["b"].task_ids)
        before = run.snapshot()
        await orch.store.commit()
    assert before.steps["a"].state is StepState.SUCCEEDED
    assert before.steps["b"].state is StepState.RUNNING
    assert not run.done()  # the stop left it for the next orchestrator
    saved = orch.store.get_value(NAMESPACE, f"{run.id}/b")
    assert saved["state"] == "running"
    assert saved["task_ids"] == list(before.steps["b"].task_ids)
    b_task = before.steps["b"].task_ids[0]

    async with orchestrator(durable(tmp_path)) as orch:
        handler = Handler(started)
        await orch.register(AgentSpec("w2", {"work"}, capacity=2, options={"handler": handler}))
        await until(lambda: run.id in workflows(orch).runs)
        result = await workflows(orch).get(run.id).result(timeout=60)
        assert orch.store.get_value(NAMESPACE, "runs") == []
    assert result.state is RunState.SUCCEEDED
    assert started.count("a") == 1  # finished before the restart: not run again
    assert result.steps["a"].task_ids == before.steps["a"].task_ids
    assert result.steps["b"].task_ids == (b_task,)  # the same task, reattached
    assert result.values["c"] == {"step": "c", "got": {"step": "b", "got": "a"}}


async def test_resume_is_explicit_when_turned_off(tmp_path: Path) -> None:
    started: list[str] = []
    async with orchestrator(durable(tmp_path)) as orch:
        handler = Handler(started, hold=frozenset({"a"}))
        await orch.register(AgentSpec("w1", {"work"}, options={"handler": handler}))
        run = await workflows(orch).start(WORKFLOW)
        await until(lambda: "a" in started)
        await orch.store.commit()
    async with orchestrator(durable(tmp_path, resume=False)) as orch:
        await orch.register(
            AgentSpec("w2", {"work"}, capacity=2, options={"handler": Handler(started)})
        )
        await asyncio.sleep(0.2)
        assert run.id not in workflows(orch).runs
        [resumed] = await workflows(orch).resume()
        assert await workflows(orch).resume() == []  # already following it
        result = await resumed.result(timeout=60)
    assert result.state is RunState.SUCCEEDED
    assert resumed.id == run.id


# An orchestrator in a process of its own: it runs WORKFLOW until step b holds, makes sure
# the store has it, prints the run's id and b's task id, and waits to be killed. Each start
# is logged to a file.
KILLED = """
import asyncio, json, sys
from alveary import AgentSpec
from alveary.testing import orchestrator, until
from alveary_workflows import Step, Workflow

log = open(sys.argv[2], "a")

async def handler(task):
    log.write(task.payload["step"] + "\\n"); log.flush()
    if task.payload["step"] == "b":
        await asyncio.Event().wait()
    return {"step": task.payload["step"], "got": task.payload.get("got")}

async def main():
    async with orchestrator(json.loads(sys.argv[1])) as orch:
        await orch.register(AgentSpec("w1", {"work"}, capacity=2, options={"handler": handler}))
        workflow = Workflow("restart", [
            Step("a", "work", {"step": "a"}),
            Step("b", "work", {"step": "b", "got": "{a.value.step}"}, after=["a"]),
            Step("c", "work", {"step": "c", "got": "{b.value}"}),
        ])
        run = await orch.plugins["workflows"].start(workflow)
        await until(lambda: run.snapshot().steps["b"].task_ids, timeout=60)
        await orch.store.commit()
        print(run.id, run.snapshot().steps["b"].task_ids[0], flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_a_run_resumes_after_its_orchestrator_is_killed(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED,
        json.dumps(durable(tmp_path)),
        str(log),
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 120)
    finally:
        child.kill()
        await child.wait()
    run_id, b_task = line.decode().split()

    started: list[str] = []
    async with orchestrator(durable(tmp_path)) as orch:
        handler = Handler(started)
        await orch.register(AgentSpec("w2", {"work"}, capacity=2, options={"handler": handler}))
        await until(lambda: run_id in workflows(orch).runs, timeout=60)
        result = await workflows(orch).get(run_id).result(timeout=60)
    before = log.read_text().split()
    assert result.state is RunState.SUCCEEDED
    assert before.count("a") + started.count("a") == 1  # a finished step never runs again
    assert "b" in started  # the held step, run again by the next orchestrator
    assert result.steps["b"].task_ids == (b_task,)  # as the same task, not a new one
    assert result.values["c"] == {"step": "c", "got": {"step": "b", "got": "a"}}


async def test_finished_runs_are_read_after_a_restart_and_only_the_latest_are_kept(
    tmp_path: Path,
) -> None:
    config = durable(tmp_path)
    config["plugins"]["workflows"]["keep"] = 2
    one = Workflow("one", [Step("a", "work", {"step": "a"})])
    async with orchestrator(config) as orch:
        await orch.register(AgentSpec("w1", {"work"}, options={"handler": Handler([])}))
        plugin = workflows(orch)
        runs = [await plugin.start(one) for _ in range(3)]
        for run in runs:
            await run.result(timeout=60)
        assert runs[0].id not in plugin.runs  # forgotten: two are kept
        assert orch.store.get_value(NAMESPACE, runs[0].id) is None
        assert orch.store.get_value(NAMESPACE, f"{runs[0].id}/a") is None
        await orch.store.commit()
    async with orchestrator(config) as orch:
        plugin = workflows(orch)
        for run in runs[1:]:
            kept = plugin.snapshot(run.id)  # from the store: it ended before the restart
            assert (kept.state, kept.values) == (
                RunState.SUCCEEDED,
                {"a": {"step": "a", "got": None}},
            )
        with pytest.raises(NotFound, match=r"^no workflow run"):
            plugin.snapshot(runs[0].id)
