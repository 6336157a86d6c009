"""The scaler's decisions: signals, guards and rules as data, and their invariants."""

from __future__ import annotations

import json
import math

import pytest
from alveary import ConfigError, Orchestrator, PluginError
from alveary_autoscale import METRICS, Condition, Policy, Rule, Scaler
from alveary_autoscale._signals import PoolStats
from hypothesis import given, settings
from hypothesis import strategies as st


def load(**values: float) -> dict[str, float]:
    """Pool inputs with agents of one slot each; unspecified metrics are zero."""
    base = {"agents": 0.0, "capacity": 0.0, "in_flight": 0.0, "queued": 0.0, "idle": 0.0}
    base.update(values)
    base.setdefault("slots", 1.0)
    return base


def test_queued_work_doubles_a_small_pool_then_grows_it_in_batches() -> None:
    scaler = Scaler("p", Policy(smoothing=0, up_cooldown=0))
    metrics = load(agents=4, capacity=4, in_flight=4, queued=100, duration=1.0)
    decision = scaler.decide(4, 1, 50, metrics, now=0.0)
    assert decision.direction == "up"
    assert decision.proposals["work"] == 4 + 100 // 5
    assert decision.target == 8, "a step may double a small pool"
    decision = scaler.decide(40, 1, 50, load(agents=40, capacity=40, in_flight=40, queued=500), 1)
    assert decision.target == 45, "at most max_up = 5 per step"
    assert scaler.decide(49, 1, 50, load(agents=49, capacity=49, in_flight=49), 2).target == 50


def test_the_steps_towards_a_goal_follow_each_tick_and_the_cool_down_holds_a_new_goal() -> None:
    scaler = Scaler("p", Policy(smoothing=0, up_cooldown=30))
    busy = load(agents=4, capacity=4, in_flight=4, queued=50)  # work wants 4 + 50 / 5 = 14
    sizes = [4]
    for now in range(3):
        sizes.append(scaler.decide(sizes[-1], 1, 50, busy, float(now)).target)
    assert sizes == [4, 8, 13, 14]
    more = load(agents=14, capacity=14, in_flight=14, queued=100)
    held = scaler.decide(14, 1, 50, more, 3.0)
    assert (held.target, held.direction) == (14, "hold")
    assert held.held == "up cool-down: 27 s left"
    assert scaler.decide(14, 1, 50, more, 30.0).target == 19


def test_a_goal_shrinks_with_the_queue_it_was_set_for() -> None:
    scaler = Scaler("p", Policy(smoothing=0, up_cooldown=30, scale_up_above=1.0))
    assert scaler.decide(4, 1, 50, load(capacity=4, in_flight=4, queued=50), 0.0).target == 8
    drained = load(capacity=8, in_flight=8, queued=5)  # wants 9 now, not 14
    assert scaler.decide(8, 1, 50, drained, 1.0).target == 9


def test_a_burst_after_an_idle_spell_is_answered_at_once_from_the_raw_queue() -> None:
    scaler = Scaler("p", Policy())  # smoothing 10 s, up_cooldown 5 s
    for second in range(60):
        idle = scaler.decide(1, 1, 16, load(agents=1, capacity=1, idle=1), float(second))
        assert (idle.direction, idle.held) == ("hold", None)
    sizes = [1]
    while sizes[-1] < 16:
        burst = load(agents=sizes[-1], capacity=sizes[-1], queued=400)
        decision = scaler.decide(sizes[-1], 1, 16, burst, 59.0 + len(sizes))
        assert decision.direction == "up", decision
        assert decision.proposals["work"] == 80, "400 tasks of 1 s within 5 s"
        sizes.append(decision.target)
    assert sizes == [1, 2, 4, 8, 13, 16], "the work target within one up_cooldown"


def test_a_cold_average_never_proposes_a_scale_down() -> None:
    scaler = Scaler("p", Policy(smoothing=10, down_cooldown=0, down_confirm=1))
    quiet = load(agents=10, capacity=10, idle=10)
    for now in range(10):
        decision = scaler.decide(10, 1, 50, quiet, float(now))
        assert (decision.direction, decision.held, decision.smoothed) == ("hold", None, {})
    warm = scaler.decide(10, 1, 50, quiet, 10.0)
    assert (warm.direction, warm.target) == ("down", 7)
    assert warm.reason == "work wants 0, utilisation wants 0 (smoothed)"


def test_a_scale_down_waits_for_the_smoothed_queue_to_empty() -> None:
    scaler = Scaler("p", Policy(smoothing=10, down_cooldown=0, down_confirm=1))
    for now in range(30):
        scaler.decide(10, 1, 50, load(capacity=10, in_flight=10, queued=40), float(now))
    drained = load(capacity=10, idle=10)
    holds = 0
    while scaler.decide(10, 1, 50, drained, 30.0 + holds).direction == "hold":
        holds += 1
    assert holds >= 10, "the raw queue is empty at once; its average takes a while"


def test_at_min_size_a_pool_with_nothing_to_do_is_steady() -> None:
    scaler = Scaler("p", Policy(smoothing=0, down_confirm=1))
    decision = scaler.decide(2, 2, 10, load(agents=2, capacity=2, idle=2), 0.0)
    assert (decision.direction, decision.reason, decision.held) == ("hold", "steady", None)


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
def test_every_decision_respects_bounds_caps_cool_downs_warm_up_and_idle_agents(
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
    decided_at = last_change = -math.inf
    goal = 0
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
            assert target - size <= min(policy.max_up, max(1, size)), "at most doubles"
            wanted = max(decision.proposals.values())
            assert target <= wanted
            if now - decided_at >= up_cooldown:  # a new scale-up decision
                decided_at, goal = now, wanted
            assert target <= goal, "no further than the last decision wanted"
            last_change = now
        elif target < size:
            assert size - target <= size - in_flight, "only idle agents go"
            if decision.direction == "down":
                assert now >= policy.smoothing, "never from a cold average"
                assert size - target <= policy.max_down
                assert downs_in_a_row + 1 >= confirm
                assert now - last_change >= down_cooldown
            last_change = now
        wanted_down = decision.smoothed and all(v < size for v in decision.smoothed.values())
        downs_in_a_row = downs_in_a_row + 1 if wanted_down and decision.direction == "hold" else 0
        size = target


hostile = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308]),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.dictionaries(st.sampled_from(sorted(METRICS)), hostile), min_size=1),
    low=st.integers(0, 5),
    span=st.integers(0, 40),
    factor=st.floats(0, 1e308),
)
def test_nan_infinite_and_huge_metrics_never_break_a_decision(
    values: list[dict[str, float]], low: int, span: int, factor: float
) -> None:
    grow = Rule("grow", (Condition("duration", ">", 1.0),), "up", factor=factor)
    shrink = Rule("shrink", (Condition("queued", "<", 1e300),), "down", factor=factor)
    scaler = Scaler("p", Policy(smoothing=1.0, down_cooldown=0, rules=(grow, shrink)))
    size = low
    for now, metrics in enumerate(values):
        decision = scaler.decide(size, low, low + span, dict(metrics), float(now))
        assert type(decision.target) is int
        assert low <= decision.target <= low + span
        json.dumps(decision.data(), allow_nan=False)  # the event carries no nan or infinity
        size = decision.target


def test_a_duration_that_is_not_finite_counts_its_result_only() -> None:
    stats = PoolStats()
    for took in (1.0, math.inf, math.nan, -1.0, 3.0):
        stats.observe(took, ok=took != 3.0)
    assert list(stats.durations) == [1.0, 3.0]
    assert stats.ewma == pytest.approx(0.1 * 3.0 + 0.9 * 1.0)
    assert stats.error_rate == pytest.approx(1 / 5)


@pytest.mark.parametrize(
    "key", ["up_cooldown", "target_duration", "smoothing", "max_change_percent"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_policy_number_that_is_not_finite_is_a_config_error(key: str, value: float) -> None:
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config(
            {"plugins": {"enabled": ["autoscale"], "autoscale": {"pools": {"p": {key: value}}}}}
        )
    assert f"plugins.autoscale.pools.p.{key}" in str(info.value)
    assert "finite" in str(info.value)
