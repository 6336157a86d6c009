"""The scaler's decisions: signals, guards and rules as data, and their invariants."""

from __future__ import annotations

import math

import pytest
from alveary import ConfigError, Orchestrator, PluginError
from alveary_autoscale import Condition, Policy, Rule, Scaler
from hypothesis import given, settings
from hypothesis import strategies as st


def load(**values: float) -> dict[str, float]:
    """Pool inputs with agents of one slot each; unspecified metrics are zero."""
    base = {"agents": 0.0, "capacity": 0.0, "in_flight": 0.0, "queued": 0.0, "idle": 0.0}
    base.update(values)
    base.setdefault("slots", 1.0)
    return base


def test_queued_work_grows_the_pool_in_capped_steps() -> None:
    scaler = Scaler("p", Policy(smoothing=0, up_cooldown=0))
    metrics = load(agents=4, capacity=4, in_flight=4, queued=100, duration=1.0)
    decision = scaler.decide(4, 1, 50, metrics, now=0.0)
    assert decision.direction == "up"
    assert decision.proposals["work"] == 4 + 100 // 5
    assert decision.target == 6, "50% of 4"
    decision = scaler.decide(40, 1, 50, load(agents=40, capacity=40, in_flight=40, queued=500), 1)
    assert decision.target == 45, "at most max_up = 5 per step"
    assert scaler.decide(49, 1, 50, load(agents=49, capacity=49, in_flight=49), 2).target == 50


def test_an_up_cool_down_holds_the_next_step_and_says_so() -> None:
    scaler = Scaler("p", Policy(smoothing=0, up_cooldown=30))
    busy = load(agents=4, capacity=4, in_flight=4, queued=50)
    assert scaler.decide(4, 1, 50, busy, 0.0).target == 6
    held = scaler.decide(6, 1, 50, busy, 10.0)
    assert (held.target, held.direction) == (6, "hold")
    assert held.held == "up cool-down: 20 s left"
    assert scaler.decide(6, 1, 50, busy, 30.0).target == 9


def test_a_scale_down_needs_confirming_ticks_and_removes_idle_agents_only() -> None:
    scaler = Scaler("p", Policy(smoothing=0, down_cooldown=0, down_confirm=3))
    quiet = load(agents=10, capacity=10, in_flight=1, idle=2)
    first = scaler.decide(10, 1, 50, quiet, 0.0)
    assert first.held == "down proposed 1 of 3 ticks"
    assert scaler.decide(10, 1, 50, quiet, 1.0).target == 10
    third = scaler.decide(10, 1, 50, quiet, 2.0)
    assert (third.direction, third.target) == ("down", 8), "two idle agents"
    assert scaler.decide(8, 1, 50, load(agents=8, capacity=8, in_flight=1), 3.0).target == 8


def test_one_busy_tick_resets_the_hysteresis() -> None:
    scaler = Scaler("p", Policy(smoothing=0, down_cooldown=0, down_confirm=3))
    quiet = load(agents=10, capacity=10, in_flight=1, idle=9)
    scaler.decide(10, 1, 50, quiet, 0.0)
    scaler.decide(10, 1, 50, quiet, 1.0)
    scaler.decide(10, 1, 50, load(agents=10, capacity=10, in_flight=5, idle=5), 2.0)
    assert scaler.decide(10, 1, 50, quiet, 3.0).held == "down proposed 1 of 3 ticks"


def test_rules_are_data_compared_by_name() -> None:
    emergency = Rule(
        "errors",
        (Condition("error_rate", ">", 0.15), Condition("agents", ">=", 2)),
        "up",
        factor=3.0,
    )
    policy = Policy(
        smoothing=0, target_duration=0, max_change_percent=500, max_up=100, rules=(emergency,)
    )
    steady = load(agents=4, capacity=4, in_flight=2, error_rate=0.1)
    assert Scaler("p", policy).decide(4, 1, 50, steady, 0.0).target == 4
    failing = load(agents=4, capacity=4, in_flight=2, error_rate=0.2)
    decision = Scaler("p", policy).decide(4, 1, 50, failing, 0.0)
    assert decision.proposals["rule errors"] == 12
    assert decision.target == 12
    assert str(emergency.when[0]) == "error_rate > 0.15"
    assert not Condition("memory", ">", 0.5).holds(load()), "an unknown metric never holds"


def test_memory_pressure_sheds_idle_agents_at_once() -> None:
    scaler = Scaler("p", Policy(smoothing=0, shed_above=0.9))
    decision = scaler.decide(
        20, 2, 50, load(agents=20, capacity=20, in_flight=18, idle=2, memory=0.97), 0.0
    )
    assert (decision.direction, decision.target) == ("shed", 18)
    decision = scaler.decide(
        20, 2, 50, load(agents=20, capacity=20, in_flight=5, idle=15, memory=0.97), 1.0
    )
    assert decision.target == 15, "25% of the pool"
    held = scaler.decide(
        20, 2, 50, load(agents=20, capacity=20, in_flight=20, memory=0.97, queued=9), 2.0
    )
    assert (held.target, held.held) == (20, "no idle agent to shed")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            {
                "rules": [
                    {
                        "name": "x",
                        "when": [{"metric": "load", "op": ">", "value": 1}],
                        "action": "up",
                    }
                ]
            },
            "metric: 'load' is not one of",
        ),
        (
            {
                "rules": [
                    {
                        "name": "x",
                        "when": [{"metric": "queued", "op": "==", "value": 1}],
                        "action": "up",
                    }
                ]
            },
            "op: '==' is not one of >, >=, <, <=",
        ),
        (
            {"rules": [{"name": "x", "when": [], "action": "up"}]},
            "when: expected at least one condition",
        ),
        (
            {
                "rules": [
                    {
                        "name": "x",
                        "when": [{"metric": "queued", "op": ">", "value": "1 + 1"}],
                        "action": "up",
                    }
                ]
            },
            "expected a number",
        ),
        ({"scale_up_above": 0.2}, "scale_down_below: expected less than scale_up_above"),
        ({"up_cooldwn": 1}, "up_cooldwn: unknown key"),
    ],
)
def test_bad_policies_are_reported_with_their_key(policy: dict[str, object], expected: str) -> None:
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config(
            {"plugins": {"enabled": ["autoscale"], "autoscale": {"pools": {"p": policy}}}}
        )
    assert "plugins.autoscale.pools.p" in str(info.value)
    assert expected in str(info.value)


sizes = st.integers(0, 60)


@settings(max_examples=150, deadline=None)
@given(
    ticks=st.lists(
        st.tuples(st.integers(0, 200), st.integers(0, 60), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=80,
    ),
    low=st.integers(0, 5),
    span=st.integers(0, 40),
    up_cooldown=st.floats(0, 20),
    down_cooldown=st.floats(0, 20),
    confirm=st.integers(1, 5),
)
def test_every_decision_respects_bounds_caps_cool_downs_and_idle_agents(
    ticks: list[tuple[int, int, float]],
    low: int,
    span: int,
    up_cooldown: float,
    down_cooldown: float,
    confirm: int,
) -> None:
    policy = Policy(up_cooldown=up_cooldown, down_cooldown=down_cooldown, down_confirm=confirm)
    scaler = Scaler("p", policy)
    high = low + span
    size = low
    last_up = last_change = -math.inf
    downs_in_a_row = 0
    for now, (queued, busy, memory) in enumerate(ticks):
        in_flight = min(busy, size)
        metrics = load(
            agents=size,
            capacity=size,
            in_flight=in_flight,
            idle=size - in_flight,
            queued=queued,
            memory=memory,
        )
        decision = scaler.decide(size, low, high, metrics, float(now))
        target = decision.target
        if target != size:
            assert low <= target <= high
        if target > size:
            assert target - size <= min(policy.max_up, max(1, size // 2))
            assert now - last_up >= up_cooldown
            last_up = last_change = now
        elif target < size:
            assert size - target <= size - in_flight, "only idle agents go"
            if decision.direction == "down":
                assert size - target <= policy.max_down
                assert downs_in_a_row + 1 >= confirm
                assert now - last_change >= down_cooldown
            last_change = now
        wanted_down = decision.proposals and all(v < size for v in decision.proposals.values())
        downs_in_a_row = downs_in_a_row + 1 if wanted_down and decision.direction == "hold" else 0
        size = target
