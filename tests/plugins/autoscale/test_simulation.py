"""The default policy against the standard load curves, on the simulated clock: the pool
follows the load, queue waits stay short, and it does not flap."""

from __future__ import annotations

import itertools

import pytest
from alveary_autoscale import Policy
from alveary_autoscale.simulate import CURVES, simulate

BOUNDS = {
    # curve: (direction changes allowed, p95 queue wait in simulated seconds)
    "step": (2, 5.0),
    "ramp": (2, 5.0),
    "spike": (2, 40.0),
    "sine": (2 * 3 + 1, 5.0),  # one up and one down per period (< 3 periods), and one spare
    "burst": (2, 15.0),
}


@pytest.mark.parametrize("curve", list(CURVES))
def test_the_default_policy_follows_each_curve_without_flapping(curve: str) -> None:
    result = simulate(Policy(), CURVES[curve], duration=2400.0)
    summary = result.summary()
    reversals, p95 = BOUNDS[curve]
    assert summary["reversals"] <= reversals
    assert summary["p95_wait"] <= p95
    assert summary["finished"] >= summary["tasks"] - max(result.desired) * 5
    busiest = max(range(len(result.rate)), key=result.rate.__getitem__)
    assert result.desired[busiest] > summary["min_size"], "it grew with the load"
    assert result.desired[-1] < summary["max_size"], "it shrank after the load went down"


def test_a_burst_grows_the_pool_at_every_tick_until_its_max() -> None:
    result = simulate(Policy(), CURVES["burst"], duration=900.0)
    at = result.times.index(600.0)
    growth = result.desired[at - 1 : result.desired.index(50, at) + 1]
    assert all(a < b for a, b in itertools.pairwise(growth)), growth
    assert len(growth) <= 10, "400 tasks: doubling, then max_up = 5 agents a tick"


def test_a_policy_without_guards_flaps_where_the_default_does_not() -> None:
    eager = Policy(
        smoothing=0,
        up_cooldown=0,
        down_cooldown=0,
        down_confirm=1,
        max_down=50,
        max_change_percent=1000,
        scale_down_below=0.74,
    )
    noisy = CURVES["step"]
    assert simulate(eager, noisy).reversals > 3 * simulate(Policy(), noisy).reversals


def test_the_old_sixty_second_up_cool_down_lets_queues_grow() -> None:
    old = simulate(Policy(up_cooldown=60.0, down_cooldown=300.0), CURVES["spike"]).summary()
    new = simulate(Policy(), CURVES["spike"]).summary()
    assert new["mean_wait"] < old["mean_wait"]
