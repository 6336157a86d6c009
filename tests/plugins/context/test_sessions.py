"""Session affinity through the ``context`` strategy: sticky, bounded, rebalanced."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, Priority, TaskSpec
from alveary.testing import EventRecorder, echo, orchestrator
from alveary_balancer import BoundedLoadRing
from alveary_context import Context, Sessions


def config(**context: Any) -> dict[str, Any]:
    return {
        "orchestrator": {"strategy": "context"},
        "plugins": {"enabled": ["context"], "context": context},
    }


def context_of(orch: alveary.Orchestrator) -> Context:
    plugin = orch.plugins["context"]
    assert isinstance(plugin, Context)
    return plugin


def agent_name(orch: alveary.Orchestrator, handle: alveary.TaskHandle) -> str:
    return orch.agent(handle.task.agent_id or "").name


async def test_a_session_stays_with_its_agent() -> None:
    async with orchestrator(config()) as orch:
        for i in range(6):
            await orch.register(AgentSpec(f"a{i}", {"chat"}, capacity=2, options={"handler": echo}))
        ring = BoundedLoadRing()
        ring.update(f"a{i}" for i in range(6))
        for session in ("s1", "s2", "s3"):
            served = set()
            for turn in range(5):
                spec = TaskSpec("chat", turn, requires={"chat"}, affinity_key=session)
                outcome = await (await orch.submit(spec)).result(timeout=5)
                served.add(orch.agent(outcome.agent_id or "").name)
            assert served == {ring.owner(session)}
        strategy = context_of(orch).strategy
        assert (strategy.placed, strategy.stays) == (3, 12)


async def test_a_session_moves_when_its_agent_is_full_and_stays_where_it_moved(
    gate: Any,
) -> None:
    async with orchestrator(config()) as orch:
        for i in range(4):
            await orch.register(AgentSpec(f"a{i}", {"chat"}, capacity=1, options={"handler": gate}))
        other = await orch.submit(TaskSpec("chat", requires={"chat"}, affinity_key="s"))
        first = agent_name(orch, other)
        # the session's agent is busy: the next turn goes elsewhere, and the session follows
        moved = await orch.submit(TaskSpec("chat", requires={"chat"}, affinity_key="s"))
        second = agent_name(orch, moved)
        assert second != first
        gate.open()
        await other.result(timeout=5)
        await moved.result(timeout=5)
        again = await orch.submit(TaskSpec("chat", requires={"chat"}, affinity_key="s"))
        assert agent_name(orch, again) == second  # sticky: pure hashing would go back
        await again.result(timeout=5)


async def test_sessions_never_pile_past_the_bound(gate: Any) -> None:
    async with orchestrator(config(epsilon=0.5)) as orch:
        for i in range(8):
            await orch.register(
                AgentSpec(f"a{i}", {"chat"}, capacity=10, options={"handler": gate})
            )
        for i in range(40):
            spec = TaskSpec("chat", requires={"chat"}, affinity_key=f"s{i % 2}")
            await orch.submit(spec)
        # two busy sessions on eight agents: nobody above 1.5 x the average of 5
        assert max(a.in_flight for a in orch.agents()) <= math.ceil(1.5 * 40 / 8)
        gate.open()


async def test_hot_agents_hand_sessions_to_cool_ones() -> None:
    recorder = EventRecorder()
    async with orchestrator(config(rebalance_moves=2), recorder) as orch:
        hot = await orch.register(AgentSpec("hot", {"chat"}, options={"handler": echo}))
        cool = await orch.register(AgentSpec("cool", {"chat"}, options={"handler": echo}))
        plugin = context_of(orch)
        for i in range(4):
            plugin.sessions.hold(f"s{i}", hot.id, Priority.LOW)
        plugin.sessions.hold("vip", hot.id, Priority.CRITICAL)
        orch.heartbeat(hot.id, context=0.7)  # busy enough: mean 0.35, hot above 0.55
        assert plugin.rebalance() == 2
        assert plugin.sessions.of(cool.id) == ["s0", "s1"]
        moved = [e for e in recorder.events if e.type == "context.rebalanced"]
        assert moved[-1].data["moves"][0] == {"session": "s0", "from": "hot", "to": "cool"}
        plugin.rebalance()
        plugin.rebalance()
        # critical sessions keep their context
        assert plugin.sessions.holder("vip") == hot.id
        assert plugin.sessions.of(hot.id) == ["vip"]


def test_the_session_table_is_bounded_and_consistent() -> None:
    sessions = Sessions(limit=3)
    for i in range(5):
        sessions.hold(f"s{i}", f"a{i % 2}", Priority.MEDIUM)
    assert len(sessions) == 3
    assert sessions.holder("s0") is None
    assert sessions.of("a0") == ["s2", "s4"]
    assert sessions.hand_over("a0", "a9") == 2
    assert sessions.of("a9") == ["s2", "s4"]
    sessions.drop("a9")
    assert sessions.holder("s2") is None
    assert len(sessions) == 1


@pytest.mark.parametrize(
    ("settings_", "expected"),
    [
        ({"wake_below": 0.9}, "wake_below < busy_above <= sleep_above <= critical_above"),
        ({"explore": 1.5}, "plugins.context.explore: expected a number in [0, 1], got 1.5"),
        ({"weights": {"luck": 1.0}}, "plugins.context.weights.luck"),
    ],
)
def test_bad_settings_are_one_clear_line(settings_: dict[str, Any], expected: str) -> None:
    with pytest.raises(alveary.PluginError) as caught:
        alveary.Orchestrator.from_config(config(**settings_))
    assert expected in str(caught.value)


async def test_works_beside_the_balancer() -> None:
    data = {
        "orchestrator": {"strategy": "weighted-score"},
        "routing": {"sample": 0, "weights": {"context": 2.0, "balancer": 1.0}},
        "plugins": {"enabled": ["balancer", "context"]},
    }
    async with orchestrator(data) as orch:
        for i in range(3):
            await orch.register(AgentSpec(f"a{i}", {"x"}, options={"handler": echo}))
        outcomes = await asyncio.gather(
            *[(await orch.submit(TaskSpec("t", i, requires={"x"}))).result(5) for i in range(9)]
        )
        assert all(o.ok for o in outcomes)
