"""The leak watch on real processes: a runtime here runs each agent as a Python subprocess
whose memory grows or stays flat. The plugin reads it through the runtime's ``pid(agent)``
(psutil), or from the ``rss`` the agent reports in its heartbeats."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import alveary
from alveary import AgentSpec, HealthStatus, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until

GROWING = """
import sys, time
hoard = []
while True:
    if len(hoard) < 60:
        hoard.append(bytearray(2 * 1024 * 1024))
    time.sleep(0.02)
"""

FLAT = """
import time
while True:
    time.sleep(0.02)
"""

# Reports its current resident memory. Not ``ru_maxrss``: a peak, and on Linux it starts at the
# peak of the parent (the test run), which can hide the growth altogether.
REPORTING = """
import time
import psutil
me = psutil.Process()
hoard = []
while True:
    if len(hoard) < 60:
        hoard.append(bytearray(2 * 1024 * 1024))
    print(me.memory_info().rss, flush=True)
    time.sleep(0.02)
"""

LEAKY = {
    "check_interval": 0.05,
    "leak_window": 10.0,
    "leak_ratio": 1.5,
    "leak_min_growth": 32.0,
}


class Processes:
    """A runtime: one Python process per agent running ``scripts[n]`` for the n-th agent
    started (the last script for the rest). With ``report``, the agent's output lines are its
    resident memory, passed on as heartbeats; otherwise the runtime offers ``pid(agent)``."""

    name = "processes"

    def __init__(self, *scripts: str, report: bool = False) -> None:
        self.scripts = scripts
        self.report = report
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.readers: dict[str, asyncio.Task[None]] = {}
        self.orch: alveary.Orchestrator | None = None
        self.started = 0

    @alveary.hookimpl
    def alveary_runtimes(self) -> dict[str, Processes]:
        return {"processes": self}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Orchestrator) -> None:
        self.orch = orchestrator

    def pid(self, agent: alveary.Agent) -> int | None:
        if self.report:
            return None
        proc = self.procs.get(agent.id)
        return proc.pid if proc is not None else None

    async def start(self, agent: alveary.Agent) -> None:
        script = self.scripts[min(self.started, len(self.scripts) - 1)]
        self.started += 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
        )
        self.procs[agent.id] = proc
        if self.report:
            self.readers[agent.id] = asyncio.ensure_future(self._relay(agent, proc))

    async def _relay(self, agent: alveary.Agent, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        assert self.orch is not None
        async for line in proc.stdout:
            if agent.id in {a.id for a in self.orch.agents()}:
                self.orch.heartbeat(agent.id, rss=float(line))

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        return task.payload

    async def stop(self, agent: alveary.Agent) -> None:
        reader = self.readers.pop(agent.id, None)
        if reader is not None:
            reader.cancel()
        proc = self.procs.pop(agent.id, None)
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()

    @alveary.hookimpl
    async def alveary_shutdown(self) -> None:
        """Kill what a start cut short by the shutdown left behind."""
        for agent_id in list(self.procs):
            await self.stop(alveary.Agent(agent_id, AgentSpec("gone")))


def config(**health: Any) -> dict[str, Any]:
    pools = [{"name": "p", "runtime": "processes", "size": {"min": 1}, "capabilities": ["work"]}]
    return {
        "plugins": {"enabled": ["health"], "health": {**LEAKY, **health}},
        "pools": pools,
    }


async def test_a_growing_process_is_marked_degraded_and_recycled_by_its_pool() -> None:
    runtime = Processes(GROWING, FLAT)
    recorder = EventRecorder()
    async with orchestrator(config(), runtime, recorder) as orch:
        await until(lambda: any(e.type == "health.recycle" for e in recorder.events))
        leak = next(e for e in recorder.events if e.type == "health.leak")
        assert leak.data["ratio"] > 1.5
        assert leak.data["rss"] - leak.data["lowest"] >= 32 * 1024 * 1024
        degraded = next(e for e in recorder.events if e.type == "agent.health")
        assert degraded.agent_id == leak.agent_id
        assert degraded.data["to"] == "degraded"
        assert degraded.data["reason"].startswith("memory leak: resident memory grew ")
        await until(lambda: [a.name for a in orch.agents()] == ["p-2"])
        replacement = orch.agent("p-2")
        handle = await orch.submit(TaskSpec("t", 1, requires={"work"}))
        assert (await handle.result(timeout=5)).state is TaskState.SUCCEEDED
        assert replacement.health is HealthStatus.HEALTHY


async def test_a_process_with_flat_memory_is_left_alone() -> None:
    runtime = Processes(FLAT)
    plugin_checks = 0
    async with orchestrator(config(), runtime) as orch:
        health = orch.plugins["health"]
        await until(lambda: len(orch.agents()) == 1)
        agent = orch.agents()[0]
        await until(lambda: getattr(health, "checks_run", 0) >= 20)
        plugin_checks = health.checks_run  # type: ignore[attr-defined]
        assert agent.health is HealthStatus.HEALTHY
        assert [a.name for a in orch.agents()] == ["p-1"]
    assert plugin_checks >= 20


async def test_memory_reported_in_heartbeats_is_watched_too() -> None:
    runtime = Processes(REPORTING, FLAT, report=True)
    recorder = EventRecorder()
    async with orchestrator(config(), runtime, recorder) as orch:
        await until(lambda: any(e.type == "health.leak" for e in recorder.events))
        leak = next(e for e in recorder.events if e.type == "health.leak")
        assert leak.data["ratio"] > 1.5
        await until(lambda: [a.name for a in orch.agents()] == ["p-2"])


async def test_an_agent_outside_a_pool_is_degraded_but_kept() -> None:
    runtime = Processes(GROWING)
    recorder = EventRecorder()
    data = config()
    data["pools"] = []
    async with orchestrator(data, runtime, recorder) as orch:
        agent = await orch.register(AgentSpec("solo", {"work"}, runtime="processes"))
        await until(lambda: agent.health is HealthStatus.DEGRADED)
        assert not any(e.type == "health.recycle" for e in recorder.events)
        assert orch.agent("solo") is agent
