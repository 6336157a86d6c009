"""Every balancer strategy against a real orchestrator: what it picks, that it never picks an
agent that cannot take the task, and the guarantees each one makes."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, HealthStatus, Priority, TaskSpec
from alveary.testing import EventRecorder, echo, orchestrator
from alveary_balancer import Balancer, BoundedLoadRing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

STRATEGIES = [
    "round-robin",
    "weighted-round-robin",
    "least-outstanding",
    "p2c",
    "consistent-hash",
    "weighted-score",
    "adaptive",
]


def config(strategy: str, sample: int = 2, **balancer: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"strategy": strategy},
        "routing": {"sample": sample},
        "plugins": {"enabled": ["balancer"], "balancer": balancer},
    }


def balancer_of(orch: alveary.Orchestrator) -> Balancer:
    plugin = orch.plugins["balancer"]
    assert isinstance(plugin, Balancer)
    return plugin


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_routes_every_task(strategy: str) -> None:
    async with orchestrator(config(strategy)) as orch:
        for i in range(4):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=2, options={"handler": echo}))
        handles = [
            await orch.submit(TaskSpec("t", i, requires={"x"}, affinity_key=f"k{i % 7}"))
            for i in range(40)
        ]
        outcomes = [await h.result(timeout=5) for h in handles]
        assert [o.value for o in outcomes] == list(range(40))
        assert all(o.ok for o in outcomes)
        group = balancer_of(orch).fleet.group(frozenset({"x"}))
        assert group is not None
        assert group.in_flight == 0


# -- no strategy picks an agent that cannot take the task ---------------------------------------

AGENT = st.tuples(
    st.integers(min_value=1, max_value=3),
    st.sampled_from([{"a"}, {"b"}, {"a", "b"}]),
    st.sampled_from(["ok", "ok", "hot", "degraded", "drained"]),
)
TASK = st.tuples(
    st.sampled_from([set(), {"a"}, {"b"}, {"a", "b"}]),
    st.sampled_from([None, "k1", "k2", "k3"]),
    st.sampled_from(list(Priority)),
)


async def scenario(
    strategy: str, agents: list[tuple[int, set[str], str]], tasks: list[Any], probe: Any
) -> None:
    gate = asyncio.Event()

    async def hold(task: alveary.Task) -> Any:
        await gate.wait()
        return task.payload

    able: list[set[str]] = []
    async with orchestrator(config("checked"), probe) as orch:
        for i, (capacity, caps, state) in enumerate(agents):
            agent = await orch.register(
                AgentSpec(f"a{i}", caps, capacity=capacity, options={"handler": hold})
            )
            if state == "hot":
                orch.heartbeat(agent.id, context=0.9)
            elif state == "degraded":
                orch.set_health(agent.id, HealthStatus.DEGRADED, "slow")
            elif state == "drained":
                await orch.drain(agent.id)
            else:
                able.append(caps)
        handles = []
        for requires, key, priority in tasks:
            spec = TaskSpec("t", requires=requires, affinity_key=key, priority=priority)
            handles.append((requires, await orch.submit(spec)))
        await asyncio.sleep(0.01)
        gate.set()
        for requires, handle in handles:
            if any(requires <= caps for caps in able):
                outcome = await handle.result(timeout=5)
                assert outcome.ok, outcome
    assert not probe.violations, probe.violations
    if any(any(r <= c for c in able) for r, _ in handles):
        assert probe.picks > 0


@pytest.mark.parametrize("strategy", STRATEGIES)
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    agents=st.lists(AGENT, min_size=1, max_size=6),
    tasks=st.lists(TASK, min_size=1, max_size=16),
)
def test_no_strategy_picks_an_ineligible_full_or_refused_agent(
    strategy: str, agents: list[Any], tasks: list[Any], checked: Any
) -> None:
    asyncio.run(scenario(strategy, agents, tasks, checked(strategy)))


# -- round robin and weights -------------------------------------------------------------------


async def test_round_robin_takes_turns_in_order(gate: Any) -> None:
    async with orchestrator(config("round-robin")) as orch:
        for i in range(3):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=10, options={"handler": gate}))
        handles = [await orch.submit(TaskSpec("t", requires={"x"})) for _ in range(9)]
        names = [orch.agent(h.task.agent_id or "").name for h in handles]
        assert names[:3] == ["a0", "a1", "a2"]
        assert names == names[:3] * 3
        gate.open()


@settings(max_examples=15, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=5), min_size=2, max_size=5),
    cycles=st.integers(min_value=1, max_value=3),
)
def test_weighted_round_robin_honours_weights_exactly_over_full_cycles(
    weights: list[int], cycles: int
) -> None:
    async def run() -> None:
        gate = asyncio.Event()

        async def hold(task: alveary.Task) -> None:
            await gate.wait()

        total = sum(weights)
        async with orchestrator(config("weighted-round-robin")) as orch:
            for i, w in enumerate(weights):
                await orch.register(
                    AgentSpec(
                        f"a{i}",
                        {"x"},
                        capacity=total * cycles,
                        labels={"weight": str(w)},
                        options={"handler": hold},
                    )
                )
            order = []
            for _ in range(total * cycles):
                handle = await orch.submit(TaskSpec("t", requires={"x"}))
                order.append(orch.agent(handle.task.agent_id or "").name)
            for c in range(cycles):
                cycle = Counter(order[c * total : (c + 1) * total])
                assert cycle == {f"a{i}": w for i, w in enumerate(weights)}
            gate.set()

    asyncio.run(run())


async def test_weighted_round_robin_is_smooth(gate: Any) -> None:
    async with orchestrator(config("weighted-round-robin", weights={"a0": 4})) as orch:
        await orch.register(AgentSpec("a0", {"x"}, capacity=20, options={"handler": gate}))
        await orch.register(AgentSpec("a1", {"x"}, capacity=20, options={"handler": gate}))
        await orch.register(
            AgentSpec("a2", {"x"}, capacity=20, labels={"weight": "1"}, options={"handler": gate})
        )
        # a1 has neither label nor configured weight: its capacity (20) is its weight
        await orch.drain("a1")
        order = [
            orch.agent((await orch.submit(TaskSpec("t", requires={"x"}))).task.agent_id or "").name
            for _ in range(10)
        ]
        assert Counter(order) == {"a0": 8, "a2": 2}
        # never more than 4 in a row: a2's turn comes in between
        runs = "".join("x" if n == "a0" else "." for n in order).split(".")
        assert max(len(r) for r in runs) <= 4
        gate.open()


# -- comparing loads ---------------------------------------------------------------------------


async def test_least_outstanding_fills_agents_in_proportion_to_capacity(gate: Any) -> None:
    async with orchestrator(config("least-outstanding")) as orch:
        small = await orch.register(
            AgentSpec("small", {"x"}, capacity=2, options={"handler": gate})
        )
        big = await orch.register(AgentSpec("big", {"x"}, capacity=6, options={"handler": gate}))
        for _ in range(4):
            await orch.submit(TaskSpec("t", requires={"x"}))
        assert (small.in_flight, big.in_flight) == (1, 3)
        for _ in range(4):
            await orch.submit(TaskSpec("t", requires={"x"}))
        assert (small.in_flight, big.in_flight) == (2, 6)
        gate.open()


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_the_ceiling_and_the_health_floor_are_respected(strategy: str, gate: Any) -> None:
    async with orchestrator(config(strategy, sample=0, d=3)) as orch:
        hot = await orch.register(AgentSpec("hot", {"x"}, capacity=4, options={"handler": gate}))
        sick = await orch.register(AgentSpec("sick", {"x"}, capacity=4, options={"handler": gate}))
        await orch.register(AgentSpec("fine", {"x"}, capacity=4, options={"handler": gate}))
        gate.open()
        orch.heartbeat(hot.id, memory=0.86)
        orch.set_health(sick.id, HealthStatus.DEGRADED, "errors")
        # one at a time, so the healthy agent always has room: the others are not needed
        outcomes = [
            await (await orch.submit(TaskSpec("t", requires={"x"}))).result(timeout=5)
            for _ in range(12)
        ]
        assert {orch.agent(o.agent_id or "").name for o in outcomes} == {"fine"}
        orch.heartbeat(hot.id, memory=0.5)  # under the ceiling again
        gate.close()  # tasks held, so that "fine" fills up and the others are needed
        handles = [await orch.submit(TaskSpec("t", requires={"x"})) for _ in range(12)]
        gate.open()
        outcomes = [await h.result(timeout=5) for h in handles]
        assert "hot" in {orch.agent(o.agent_id or "").name for o in outcomes}


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_a_fleet_that_degrades_as_a_whole_still_works(strategy: str) -> None:
    async with orchestrator(config(strategy)) as orch:
        for i in range(3):
            agent = await orch.register(AgentSpec(f"a{i}", {"x"}, options={"handler": echo}))
            orch.set_health(agent.id, HealthStatus.DEGRADED, "a shared dependency is slow")
        handles = [await orch.submit(TaskSpec("t", i, requires={"x"})) for i in range(6)]
        outcomes = [await h.result(timeout=5) for h in handles]
        assert all(o.ok for o in outcomes)


async def test_p2c_waits_when_every_agent_is_over_the_ceiling() -> None:
    async with orchestrator(config("p2c", d=3)) as orch:
        agent = await orch.register(AgentSpec("a", {"x"}, capacity=2, options={"handler": echo}))
        orch.heartbeat(agent.id, cpu=0.95)
        handle = await orch.submit(TaskSpec("t", requires={"x"}))
        await asyncio.sleep(0.1)
        assert handle.task.state is alveary.TaskState.QUEUED
        orch.heartbeat(agent.id, cpu=0.2)  # the next tick routes it
        assert (await handle.result(timeout=5)).ok


async def test_weighted_score_learns_to_avoid_a_failing_agent() -> None:
    async def fail(task: alveary.Task) -> None:
        raise RuntimeError("no")

    # skill, success and load count; nothing that moves with the clock
    settings_ = {"score": {"latency": 0.0, "freshness": 0.0}, "by_priority": {}}
    async with orchestrator(config("weighted-score", sample=0, **settings_)) as orch:
        # An untried agent counts as always successful, so it ties with one that never
        # failed, and ties go to chance. The failing agent declares a little more skill: it
        # is tried first, and one failure must outweigh what it declares.
        await orch.register(AgentSpec("good", {"x"}, skills={"x": 0.95}, options={"handler": echo}))
        await orch.register(AgentSpec("bad", {"x"}, skills={"x": 1.0}, options={"handler": fail}))
        names = []
        for _ in range(30):
            handle = await orch.submit(TaskSpec("t", requires={"x"}, max_attempts=1))
            names.append(orch.agent((await handle.result(timeout=5)).agent_id or "").name)
        # tried once (new agents get a chance), then avoided
        assert names == ["bad"] + ["good"] * 29
        scorer = balancer_of(orch).scorer
        bad = orch.agent("bad")
        assert (
            scorer.stats[bad.id].success.value < scorer.stats[orch.agent("good").id].success.value
        )


# -- consistent hashing with bounded loads -----------------------------------------------------


async def test_consistent_hash_sends_a_key_to_its_agent() -> None:
    async with orchestrator(config("consistent-hash")) as orch:
        for i in range(8):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=2, options={"handler": echo}))
        ring = BoundedLoadRing(vnodes=64)
        ring.update(f"a{i}" for i in range(8))
        for key in ("alpha", "beta", "gamma", "delta"):
            for _ in range(5):
                outcome = await (
                    await orch.submit(TaskSpec("t", requires={"x"}, affinity_key=key))
                ).result(timeout=5)
                assert orch.agent(outcome.agent_id or "").name == ring.owner(key)
        strategy: Any = balancer_of(orch).strategies["consistent-hash"]
        assert (strategy.hits, strategy.spills) == (20, 0)


async def test_consistent_hash_walks_the_ring_when_the_agent_is_full(gate: Any) -> None:
    async with orchestrator(config("consistent-hash")) as orch:
        for i in range(5):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=1, options={"handler": gate}))
        ring = BoundedLoadRing(vnodes=64)
        ring.update(f"a{i}" for i in range(5))
        walk = list(ring.walk("key"))
        first = await orch.submit(TaskSpec("t", requires={"x"}, affinity_key="key"))
        second = await orch.submit(TaskSpec("t", requires={"x"}, affinity_key="key"))
        assert orch.agent(first.task.agent_id or "").name == walk[0]
        assert orch.agent(second.task.agent_id or "").name == walk[1]
        gate.open()


async def test_consistent_hash_never_passes_the_bound(gate: Any, checked: Any) -> None:
    """Three hot keys on ten agents: pure hashing would pile 20 tasks on each key's agent;
    with epsilon 0.25 nobody holds more than 1.25 times the average load."""

    class Bounded(checked):  # type: ignore[misc, valid-type]
        def select(self, task: alveary.Task, candidates: alveary.Candidates) -> Any:
            agents = orch.agents()
            total = sum(a.in_flight for a in agents)
            capacity = sum(a.spec.capacity for a in agents)
            agent = super().select(task, candidates)
            if agent is not None:
                cap = math.ceil(1.25 * (total + 1) * agent.spec.capacity / capacity - 1e-9)
                if agent.in_flight + 1 > cap:
                    self.violations.append(f"{agent.name}: {agent.in_flight + 1} > {cap}")
            return agent

    probe = Bounded("consistent-hash")
    async with orchestrator(config("checked"), probe) as orch:
        for i in range(10):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=20, options={"handler": gate}))
        for i in range(60):
            await orch.submit(TaskSpec("t", requires={"x"}, affinity_key=f"hot-{i % 3}"))
        loads = sorted(a.in_flight for a in orch.agents())
        assert max(loads) <= math.ceil(1.25 * 60 / 10)
        gate.open()
    assert probe.picks == 60
    assert not probe.violations


# -- adaptive ----------------------------------------------------------------------------------


async def test_adaptive_switches_by_fleet_state_and_says_so(gate: Any) -> None:
    recorder = EventRecorder()
    async with orchestrator(config("adaptive"), recorder) as orch:
        for i in range(4):
            await orch.register(AgentSpec(f"a{i}", {"x"}, capacity=4, options={"handler": gate}))
        adaptive = balancer_of(orch).adaptive
        assert adaptive.observe() == (0.0, 0.0)
        assert adaptive.mode == "round-robin"
        # 14 of 16 slots: mean load 0.875
        handles = [await orch.submit(TaskSpec("t", requires={"x"})) for _ in range(14)]
        adaptive.observe()
        assert adaptive.mode == "weighted-score"
        events = [e for e in recorder.events if e.type == "balancer.strategy"]
        assert events[-1].data["to"] == "weighted-score"
        assert events[-1].data["mean_load"] == pytest.approx(0.875)
        gate.open()
        await asyncio.gather(*(h.result(timeout=5) for h in handles))
        orch.heartbeat("a0", memory=0.84)  # one agent's memory is nearly full, others idle
        mean, spread = adaptive.observe()
        assert mean == pytest.approx(0.21)
        assert spread > 0.25
        assert adaptive.mode == "p2c"
