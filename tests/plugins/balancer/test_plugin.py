"""The balancer plugin's configuration, capacity tiers, score, fleet accounting and the
rebalancing planner."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import alveary
import pytest
from alveary import AgentSpec, Priority, Task, TaskSpec
from alveary._config import load
from alveary.testing import echo, orchestrator
from alveary_balancer import Balancer, Config, Move, ScoreWeights, plan_moves
from hypothesis import given, settings
from hypothesis import strategies as st


def enabled(**balancer: Any) -> dict[str, Any]:
    return {"plugins": {"enabled": ["balancer"], "balancer": balancer}}


def balancer_of(orch: alveary.Orchestrator) -> Balancer:
    plugin = orch.plugins["balancer"]
    assert isinstance(plugin, Balancer)
    return plugin


# -- configuration -----------------------------------------------------------------------------


def test_strategies_are_selected_by_name() -> None:
    orch = alveary.Orchestrator.from_config({"orchestrator": {"strategy": "p2c"}, **enabled(d=3)})
    assert orch.strategy is balancer_of(orch).strategies["p2c"]
    assert balancer_of(orch).config.d == 3


@pytest.mark.parametrize(
    ("settings_", "expected"),
    [
        ({"d": 0}, "plugins.balancer.d: expected a number > 0, got 0"),
        ({"by_priority": {"urgent": {}}}, "by_priority.urgent: not a priority"),
        ({"score": {"speed": 1.0}}, "plugins.balancer.score.speed"),
        ({"tiers": {"huge": -1}}, "tiers.huge: expected an integer > 0"),
        ({"strategy": "p2c"}, "plugins.balancer.strategy"),
    ],
)
def test_bad_settings_are_one_clear_line(settings_: dict[str, Any], expected: str) -> None:
    with pytest.raises(alveary.PluginError) as caught:
        alveary.Orchestrator.from_config(enabled(**settings_))
    assert expected in str(caught.value)


def test_a_bad_setting_is_reported_with_its_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "alveary.toml"
    path.write_text(
        '[plugins]\nenabled = ["balancer"]\n\n[plugins.balancer]\nd = 2\nceiling = 0.9\n'
        "alpha = 2\n",
        encoding="utf-8",
    )
    with pytest.raises(alveary.PluginError) as caught:
        alveary.Orchestrator(load(path))
    assert caught.value.lines == [
        f"{path}:7: plugins.balancer.alpha: expected a number in (0, 1], got 2.0"
    ]


def test_unknown_strategy_lists_the_balancers() -> None:
    with pytest.raises(alveary.ConfigError) as caught:
        alveary.Orchestrator.from_config({"orchestrator": {"strategy": "p3c"}, **enabled()})
    message = str(caught.value)
    assert "'p3c' is not one of" in message
    assert "consistent-hash" in message
    assert "weighted-round-robin" in message


# -- capacity tiers ----------------------------------------------------------------------------


async def test_a_tier_label_sets_the_capacity() -> None:
    async with orchestrator(enabled()) as orch:
        heavy = await orch.register(
            AgentSpec("h", {"x"}, labels={"tier": "heavy"}, options={"handler": echo})
        )
        plain = await orch.register(AgentSpec("p", {"x"}, capacity=3, options={"handler": echo}))
        assert heavy.spec.capacity == 8
        assert heavy.name == "h"
        assert plain.spec.capacity == 3


async def test_tiers_apply_to_pools_and_can_be_redefined() -> None:
    data = {
        **enabled(tiers={"light": 2, "huge": 40}),
        "pools": [
            {
                "name": "big",
                "size": {"min": 2},
                "capabilities": ["x"],
                "labels": {"tier": "huge"},
                "options": {"handler": "alveary.testing:echo"},
            }
        ],
    }
    async with orchestrator(data) as orch:
        agents = orch.agents()
        assert [a.spec.capacity for a in agents] == [40, 40]
        assert orch.pools["big"].agents == [a.id for a in agents]


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"tier": "gigantic"}, "tier='gigantic': not a tier (light, standard, heavy, enterprise)"),
        ({"weight": "many"}, "weight='many': expected a positive integer"),
        ({"weight": "0"}, "weight='0': expected a positive integer"),
    ],
)
async def test_bad_labels_refuse_the_agent(labels: dict[str, str], reason: str) -> None:
    async with orchestrator(enabled()) as orch:
        with pytest.raises(alveary.Rejected) as caught:
            await orch.register(AgentSpec("a", {"x"}, labels=labels, options={"handler": echo}))
        assert reason in str(caught.value)
        assert orch.agents() == []


# -- the score ---------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    skill=st.floats(min_value=0, max_value=1),  # AgentSpec refuses levels outside
    in_flight=st.integers(min_value=0, max_value=4),
    usage=st.floats(min_value=0, max_value=1.5),
    age=st.floats(min_value=-5, max_value=500),
    outcomes=st.lists(st.tuples(st.booleans(), st.floats(0, 30)), max_size=12),
    priority=st.sampled_from(list(Priority)),
)
def test_scores_stay_in_the_unit_interval(
    skill: float,
    in_flight: int,
    usage: float,
    age: float,
    outcomes: list[tuple[bool, float]],
    priority: Priority,
) -> None:
    plugin = Balancer(Config())
    agent = alveary.Agent(
        "a1",
        AgentSpec("a", {"x"}, capacity=4, skills={"x": skill}),
        in_flight=in_flight,
        heartbeat=time.time() - age,
        metrics={"cpu": usage},
    )
    for ok, seconds in outcomes:
        plugin.scorer.record(agent, ok, seconds)
    task = Task("t1", TaskSpec("t", requires={"x"}, priority=priority))
    parts = plugin.scorer.parts(task, agent)
    assert all(0.0 <= v <= 1.0 for v in parts.values()), parts
    assert 0.0 <= plugin.scorer.score(task, agent) <= 1.0


def test_score_parts_say_what_they_mean() -> None:
    plugin = Balancer(Config(score=ScoreWeights(), by_priority={}))
    now = time.time()
    spec = AgentSpec("a", {"x", "y"}, capacity=10, skills={"x": 0.5})
    fresh = alveary.Agent("a1", spec, in_flight=8, heartbeat=now)
    stale = alveary.Agent("a2", spec, in_flight=1, heartbeat=now - 30)
    task = Task("t1", TaskSpec("t", requires={"x", "y"}))
    parts = plugin.scorer.parts(task, fresh, now)
    assert parts["skill"] == pytest.approx(0.75)  # x at 0.5, y undeclared counts 1.0
    assert parts["load"] == pytest.approx(0.2 * 0.5)  # 0.8 loaded: over 0.7, halved
    assert parts["freshness"] == pytest.approx(1.0)
    assert plugin.scorer.parts(task, stale, now)["freshness"] == pytest.approx(0.5)
    assert plugin.scorer.parts(task, stale, now)["load"] == pytest.approx(0.9)
    # no attempts anywhere yet: success and latency are neutral
    assert parts["success"] == 1.0
    assert parts["latency"] == 0.5
    plugin.scorer.record(fresh, True, 1.0)
    plugin.scorer.record(stale, True, 3.0)
    assert plugin.scorer.parts(task, fresh, now)["latency"] > 0.5
    assert plugin.scorer.parts(task, stale, now)["latency"] < 0.5


def test_critical_work_weighs_performance_and_normal_work_capability() -> None:
    plugin = Balancer(Config())
    now = time.time()
    skilled = alveary.Agent("s", AgentSpec("s", {"x"}, skills={"x": 1.0}), heartbeat=now)
    reliable = alveary.Agent("r", AgentSpec("r", {"x"}, skills={"x": 0.4}), heartbeat=now)
    for _ in range(10):
        plugin.scorer.record(skilled, False, 1.0)
        plugin.scorer.record(reliable, True, 1.0)

    def score(priority: Priority, agent: alveary.Agent) -> float:
        return plugin.scorer.score(
            Task("t", TaskSpec("t", requires={"x"}, priority=priority)), agent
        )

    assert score(Priority.MEDIUM, skilled) > score(Priority.MEDIUM, reliable)
    assert score(Priority.CRITICAL, reliable) > score(Priority.CRITICAL, skilled)


# -- fleet accounting --------------------------------------------------------------------------


async def test_in_flight_sums_follow_the_kernel(gate: Any) -> None:
    async with orchestrator({"orchestrator": {"strategy": "p2c"}, **enabled()}) as orch:
        for i in range(3):
            caps = {"x", "y"} if i else {"x"}
            await orch.register(AgentSpec(f"a{i}", caps, capacity=4, options={"handler": gate}))
        fleet = balancer_of(orch).fleet
        handles = [await orch.submit(TaskSpec("t", requires={"y"})) for _ in range(5)]
        handles += [await orch.submit(TaskSpec("t", requires={"x"})) for _ in range(3)]
        y, x = fleet.group(frozenset({"y"})), fleet.group(frozenset({"x"}))
        assert x is not None
        assert y is not None
        assert len(x) == 3
        assert len(y) == 2
        assert y.in_flight == sum(a.in_flight for a in orch.agents() if "y" in a.spec.capabilities)
        assert x.in_flight == 8
        assert x.capacity == 12
        await orch.cancel(handles[0].id)  # a cancelled attempt is finished too
        gate.open()
        await asyncio.gather(*(h.result(timeout=5) for h in handles))
        await asyncio.sleep(0.15)
        assert (x.in_flight, y.in_flight) == (0, 0)
        await orch.deregister("a2")
        assert (len(x), x.capacity, len(y)) == (2, 8, 1)


# -- rebalancing plans -------------------------------------------------------------------------


def test_plan_moves_goes_from_hot_to_cool_across_a_clear_gap() -> None:
    loads = {"hot": 1.0, "warm": 0.6, "mid": 0.5, "cool": 0.1, "cold": 0.0}
    items = {"hot": ["s1", "s2", "s3", "s4"], "warm": ["w1"], "cool": ["c1"]}
    moves = plan_moves(loads, items, margin=0.2, limit=3)
    assert moves == [
        Move("s1", "hot", "cold"),
        Move("s2", "hot", "cool"),
        Move("s3", "hot", "cold"),
    ]
    # the mean is 0.44: warm (0.6) is within the margin and gives nothing
    assert plan_moves({"a": 0.5, "b": 0.45, "c": 0.4}, {"a": ["x"]}) == []
    assert plan_moves(loads, items, limit=0) == []


@settings(max_examples=60, deadline=None)
@given(
    loads=st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 1), min_size=1),
    limit=st.integers(0, 5),
)
def test_plan_moves_never_moves_toward_a_hotter_agent(loads: dict[str, float], limit: int) -> None:
    items = {a: [f"{a}{i}" for i in range(3)] for a in loads}
    moves = plan_moves(loads, items, margin=0.2, limit=limit)
    assert len(moves) <= limit
    for move in moves:
        assert loads[move.source] - loads[move.target] >= 0.4 - 1e-9
        assert move.item.startswith(move.source)
    assert len({m.item for m in moves}) == len(moves)
