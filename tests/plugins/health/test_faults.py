"""Agents that raise, hang or leave mid-task, with the health plugin on: no task is lost.

Every submitted task ends succeeded, or dead with the reason of its last attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, AgentState, HealthStatus, TaskSpec, TaskState
from alveary.testing import EventRecorder, orchestrator, until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FAST = {
    "heartbeat_interval": 0.1,
    "stale_after": 2.0,
    "fail_after": 0.3,
    "check_interval": 0.05,
    "min_requests": 3,
    "breaker_failures": 3,
    "breaker_cooldown": 0.2,
}


def config(**health: Any) -> dict[str, Any]:
    return {"plugins": {"enabled": ["health"], "health": {**FAST, **health}}}


async def ok(task: alveary.Task) -> Any:
    await asyncio.sleep(0.001)
    return task.payload


async def boom(task: alveary.Task) -> Any:
    raise RuntimeError("agent is broken")


async def hang(task: alveary.Task) -> Any:
    await asyncio.Event().wait()


def spec(name: str, handler: Callable[[alveary.Task], Awaitable[Any]], **kw: Any) -> AgentSpec:
    return AgentSpec(name, {"work"}, options={"handler": handler}, **kw)


async def finish(handles: list[alveary.TaskHandle]) -> list[alveary.Outcome]:
    return [await h.result(timeout=10) for h in handles]


async def test_a_raising_agent_is_cut_off_by_its_breaker_and_no_task_is_lost() -> None:
    recorder = EventRecorder()
    async with orchestrator(config(), recorder) as orch:
        bad = await orch.register(spec("bad", boom, capacity=4))
        good = await orch.register(spec("good", ok, capacity=4))
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(40)]
        outcomes = await finish(handles)
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 40
        assert {o.value for o in outcomes} == set(range(40))
        assert all(o.agent_id == good.id for o in outcomes)
        breaker = [e for e in recorder.events if e.type == "health.breaker"]
        assert breaker[0].agent_id == bad.id
        assert breaker[0].data["state"] == "open"
        opened = [e for e in recorder.events if e.type == "agent.health" and e.agent_id == bad.id]
        assert opened[0].data["to"] == "unhealthy"
        assert opened[0].data["reason"].startswith("circuit open: ")
        # it failed far fewer attempts than it would have without a breaker
        failed = [e for e in recorder.events if e.type == "task.pending" and "error" in e.data]
        assert 3 <= len(failed) < 40


async def test_half_open_lets_one_probe_through_and_a_success_closes_it() -> None:
    recorder = EventRecorder()
    healed = asyncio.Event()
    gate = asyncio.Event()
    running: list[str] = []

    async def flaky(task: alveary.Task) -> Any:
        if not healed.is_set():
            raise RuntimeError("down")
        running.append(task.id)
        await gate.wait()
        return task.payload

    async with orchestrator(config(), recorder) as orch:
        agent = await orch.register(spec("flaky", flaky, capacity=4))
        first = [
            await orch.submit(TaskSpec("t", i, requires={"work"}, max_attempts=1)) for i in range(3)
        ]
        assert {o.state for o in await finish(first)} == {TaskState.DEAD}
        await until(lambda: agent.health is HealthStatus.UNHEALTHY)
        healed.set()
        await until(lambda: agent.health is HealthStatus.DEGRADED)  # half-open
        later = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(4)]
        await until(lambda: len(running) == 1)
        await asyncio.sleep(0.05)
        assert len(running) == 1, "only the probe runs while the breaker is half-open"
        gate.set()
        outcomes = await finish(later)
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 4
        states = [e.data["state"] for e in recorder.events if e.type == "health.breaker"]
        assert states[:3] == ["open", "half-open", "closed"]
        assert agent.health is HealthStatus.HEALTHY


async def test_an_agent_that_hangs_and_stops_heartbeating_fails_and_its_task_runs_elsewhere() -> (
    None
):
    recorder = EventRecorder()
    hung: set[str] = set()
    async with orchestrator(config(), recorder) as orch:
        stuck = await orch.register(spec("stuck", hang))
        handle = await orch.submit(TaskSpec("t", "x", requires={"work"}))
        assert handle.task.agent_id == stuck.id
        hung.add(stuck.id)
        spare = await orch.register(spec("spare", ok))

        async def heartbeats() -> None:  # what each live agent's side does
            while True:
                for agent in orch.agents():
                    if agent.id not in hung:
                        orch.heartbeat(agent.id)
                await asyncio.sleep(0.02)

        orch.heartbeat(stuck.id)  # it did heartbeat once, then hung
        beating = asyncio.ensure_future(heartbeats())
        try:
            outcome = await handle.result(timeout=10)
        finally:
            beating.cancel()
        assert (outcome.state, outcome.value, outcome.agent_id) == (
            TaskState.SUCCEEDED,
            "x",
            spare.id,
        )
        assert outcome.attempts == 2, "the lost attempt counts"
        health = [e.data for e in recorder.events if e.type == "agent.health"]
        assert [h["to"] for h in health] == ["unhealthy", "failed"]
        assert health[0]["reason"].startswith("no heartbeat for ")
        assert health[1]["reason"].startswith("unhealthy for ")
        assert stuck.state is AgentState.FAILED
        assert spare.health is HealthStatus.HEALTHY


async def test_an_agent_deregistered_mid_task_loses_nothing() -> None:
    async with orchestrator(config()) as orch:
        leaving = await orch.register(spec("leaving", hang, capacity=3))
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(3)]
        assert {h.task.agent_id for h in handles} == {leaving.id}
        await orch.register(spec("staying", ok, capacity=3))
        await orch.deregister(leaving.id, drain=False)
        outcomes = await finish(handles)
        assert [o.state for o in outcomes] == [TaskState.SUCCEEDED] * 3
        assert [o.attempts for o in outcomes] == [1, 1, 1], "a deregistration costs no attempt"


class Probed:
    """A runtime plugin whose agents run in-process and answer ``alveary_health_check`` with
    whatever state the test gives them, counting the checks."""

    name = "probed"

    def __init__(self) -> None:
        self.status: dict[str, HealthStatus] = {}
        self.checks: list[float] = []

    @alveary.hookimpl
    def alveary_runtimes(self) -> dict[str, Probed]:
        return {"probed": self}

    async def start(self, agent: alveary.Agent) -> None:
        self.status.setdefault(agent.name, HealthStatus.HEALTHY)

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        return task.payload

    async def stop(self, agent: alveary.Agent) -> None:
        pass

    @alveary.hookimpl
    def alveary_health_check(self, agent: alveary.Agent) -> alveary.HealthReport:
        self.checks.append(time.monotonic())
        status = self.status.get(agent.name, HealthStatus.HEALTHY)
        return alveary.HealthReport(status, "session gone" if status else "ok")


async def test_checks_need_three_bad_reports_to_turn_unhealthy_and_two_good_to_recover() -> None:
    probed = Probed()
    recorder = EventRecorder()
    async with orchestrator(config(), probed, recorder) as orch:
        agent = await orch.register(AgentSpec("a", {"work"}, runtime="probed"))
        probed.status["a"] = HealthStatus.UNHEALTHY
        await until(lambda: agent.health is HealthStatus.UNHEALTHY)
        assert agent.state is AgentState.UNHEALTHY
        probed.status["a"] = HealthStatus.HEALTHY
        await until(lambda: agent.health is HealthStatus.HEALTHY)
        assert agent.state is AgentState.READY
        steps = [e.data["to"] for e in recorder.events if e.type == "agent.health"]
        assert steps == ["degraded", "unhealthy", "healthy"]
        reasons = [e.data["reason"] for e in recorder.events if e.type == "agent.health"]
        assert "check 1 of 3" in reasons[0]
        assert "3 checks" in reasons[1]
        assert any(e.type == "health.recovering" for e in recorder.events)


async def test_a_failed_check_removes_the_agent_and_its_pool_replaces_it() -> None:
    probed = Probed()
    pools = [{"name": "p", "runtime": "probed", "size": {"min": 2}, "capabilities": ["work"]}]
    async with orchestrator({**config(), "pools": pools}, probed) as orch:
        await until(lambda: len(orch.pools["p"].agents) == 2)
        probed.status["p-1"] = HealthStatus.FAILED
        await until(lambda: "p-1" not in {a.name for a in orch.agents()})
        await until(lambda: len(orch.pools["p"].agents) == 2)
        assert {a.name for a in orch.agents()} == {"p-2", "p-3"}


async def test_the_kernel_sweep_is_replaced_by_checks_paced_under_the_cap() -> None:
    probed = Probed()
    async with orchestrator(
        {**config(max_checks=50.0, check_interval=0.01), "orchestrator": {"health_interval": 0.05}},
        probed,
    ) as orch:
        assert orch.health_checks_by == "health"
        for i in range(300):
            await orch.register(AgentSpec(f"a{i}", {"work"}, runtime="probed"))
        probed.checks.clear()
        start = time.monotonic()
        await asyncio.sleep(0.6)
        elapsed = time.monotonic() - start
        # the kernel alone would check all 300 every 0.05 s: 3600 in that time
        assert 0 < len(probed.checks) <= 50 * elapsed + 50


class Crashing:
    """A runtime plugin whose ``start`` fails the first ``failures`` times."""

    name = "crashing"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts: list[float] = []

    @alveary.hookimpl
    def alveary_runtimes(self) -> dict[str, Crashing]:
        return {"crashing": self}

    async def start(self, agent: alveary.Agent) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) <= self.failures:
            raise OSError("cannot start")

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        return task.payload

    async def stop(self, agent: alveary.Agent) -> None:
        pass


async def test_a_pool_that_cannot_start_agents_backs_off_exponentially() -> None:
    crashing = Crashing(failures=4)
    recorder = EventRecorder()
    pools = [{"name": "p", "runtime": "crashing", "size": {"min": 1}, "capabilities": ["work"]}]
    settings_ = {"restart_base": 0.05, "restart_max": 1.0}
    data = {**config(), "pools": pools, "orchestrator": settings_}
    async with orchestrator(data, crashing, recorder) as orch:
        await until(lambda: len(orch.pools["p"].agents) == 1)
        delays = [e.data["delay"] for e in recorder.events if e.type == "pool.backoff"]
        assert delays == [0.05, 0.1, 0.2]
        assert len(crashing.starts) == 5
        handle = await orch.submit(TaskSpec("t", 7, requires={"work"}))
        assert (await handle.result(timeout=5)).value == 7


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    faults=st.lists(st.sampled_from(["raise", "hang", "leave", "fine"]), min_size=3, max_size=6),
    tasks=st.integers(min_value=5, max_value=30),
)
async def test_whatever_fails_every_task_ends_once(faults: list[str], tasks: int) -> None:
    handlers = {"raise": boom, "hang": hang, "leave": hang, "fine": ok}
    async with orchestrator(config()) as orch:
        agents = [
            await orch.register(spec(f"{kind}-{i}", handlers[kind], capacity=2))
            for i, kind in enumerate(faults)
        ]
        handles = [
            await orch.submit(TaskSpec("t", i, requires={"work"}, timeout=0.2, max_attempts=4))
            for i in range(tasks)
        ]
        for agent, kind in zip(agents, faults, strict=True):
            if kind == "leave":
                await orch.deregister(agent.id, drain=False)
        await orch.register(spec("rescuer", ok, capacity=4))
        outcomes = await finish(handles)
        for outcome in outcomes:
            assert outcome.state in (TaskState.SUCCEEDED, TaskState.DEAD)
            if outcome.state is TaskState.DEAD:
                assert outcome.error
        assert orch.metrics().tasks.keys() <= {"succeeded", "dead"}
        assert sum(orch.metrics().tasks.values()) == tasks


@pytest.mark.parametrize("kind", ["raise", "hang"])
async def test_tasks_that_only_bad_agents_could_take_die_with_their_reason(kind: str) -> None:
    handler = boom if kind == "raise" else hang
    async with orchestrator(config()) as orch:
        await orch.register(spec("only", handler))
        handle = await orch.submit(TaskSpec("t", requires={"work"}, timeout=0.1, max_attempts=2))
        outcome = await handle.result(timeout=10)
        assert outcome.state is TaskState.DEAD
        assert ("agent is broken" if kind == "raise" else "timed out") in (outcome.error or "")


async def test_an_error_rate_above_five_percent_degrades_an_agent_without_cutting_it_off() -> None:
    calls = 0

    async def sometimes(task: alveary.Task) -> Any:
        nonlocal calls
        calls += 1
        if calls % 5 == 0:
            raise RuntimeError("one in five fails")
        return task.payload

    async with orchestrator(config(min_requests=10)) as orch:
        agent = await orch.register(spec("shaky", sometimes))
        handles = [await orch.submit(TaskSpec("t", i, requires={"work"})) for i in range(20)]
        assert {o.state for o in await finish(handles)} == {TaskState.SUCCEEDED}
        assert agent.health is HealthStatus.DEGRADED
        assert agent.state is AgentState.READY
        report = orch.plugins["health"].report(agent.id)  # type: ignore[attr-defined]
        assert report["breaker"] == "closed"
        assert report["sources"]["tasks"][1].endswith("attempts failed")
