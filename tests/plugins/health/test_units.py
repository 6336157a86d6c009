"""The breaker against a plain model of its rules, and the pacing cap at fleet sizes up to
10,000 agents."""

from __future__ import annotations

import math
from collections import deque

import pytest
from alveary import ConfigError, Orchestrator, PluginError
from alveary_health import Breaker, BreakerState, Config, paced_interval
from alveary_health._schedule import Wheel
from hypothesis import given, settings
from hypothesis import strategies as st


def model_opens(outcomes: list[bool], config: Config) -> int | None:
    """The index of the attempt that opens a closed breaker, by the rules as written."""
    window: deque[bool] = deque(maxlen=config.window)
    streak = 0
    for i, ok in enumerate(outcomes):
        window.append(ok)
        streak = 0 if ok else streak + 1
        if ok or len(window) < config.min_requests:
            continue
        failed = window.count(False)
        if streak >= config.breaker_failures or failed / len(window) >= config.breaker_ratio:
            return i
    return None


@settings(max_examples=300, deadline=None)
@given(
    outcomes=st.lists(st.booleans(), max_size=60),
    window=st.integers(1, 30),
    min_requests=st.integers(1, 15),
    failures=st.integers(1, 8),
    ratio=st.floats(0.05, 1.0),
)
def test_the_breaker_opens_exactly_when_the_rules_say(
    outcomes: list[bool], window: int, min_requests: int, failures: int, ratio: float
) -> None:
    config = Config(
        window=window, min_requests=min_requests, breaker_failures=failures, breaker_ratio=ratio
    )
    breaker = Breaker(config)
    opened = None
    for i, ok in enumerate(outcomes):
        if breaker.record(ok, f"t{i}", float(i)) is not None:
            opened = i
            break
    assert opened == model_opens(outcomes, config)
    assert (breaker.state is BreakerState.OPEN) == (opened is not None)


def test_half_open_decides_on_the_probe_only() -> None:
    config = Config(min_requests=1, breaker_failures=1, breaker_cooldown=10.0)
    breaker = Breaker(config)
    assert breaker.record(False, "a", 0.0) == "1 failed attempts in a row"
    assert breaker.poll(5.0) is False
    assert breaker.poll(10.0) is True
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.probe = "p"
    assert breaker.record(True, "late", 11.0) is None  # started before: says nothing
    assert breaker.record(False, "p", 11.0) == "probe failed"
    assert breaker.state is BreakerState.OPEN
    assert breaker.poll(21.0)
    breaker.probe = "q"
    assert breaker.record(True, "q", 22.0) == "probe succeeded"
    assert (breaker.state, len(breaker.outcomes)) == (BreakerState.CLOSED, 0)


@settings(max_examples=60, deadline=None)
@given(
    agents=st.integers(0, 10_000),
    rate=st.floats(1.0, 2000.0),
    tick=st.floats(0.01, 2.0),
    base=st.floats(0.1, 60.0),
)
def test_visits_per_second_never_exceed_the_cap(
    agents: int, rate: float, tick: float, base: float
) -> None:
    wheel = Wheel(rate)
    for i in range(agents):
        wheel.add(str(i), -math.inf)
    interval = paced_interval(base, agents, rate)
    visits = 0
    now = 0.0
    for _ in range(int(5 / tick) + 1):
        now += tick
        visits += len(wheel.due(now, tick, interval, lambda _: True))
    assert visits <= rate * now + max(rate, 1.0)
    assert interval >= agents / rate


def test_a_wheel_visits_every_agent_within_an_interval() -> None:
    wheel = Wheel(100.0)
    for i in range(1000):
        wheel.add(str(i), -math.inf)
    interval = paced_interval(1.0, 1000, 100.0)
    assert interval == 10.0
    seen: set[str] = set()
    now = 0.0
    while now < interval:
        now += 0.1
        seen.update(wheel.due(now, 0.1, interval, lambda _: True))
    assert len(seen) >= 990


@pytest.mark.parametrize(
    ("settings_", "expected"),
    [
        ({"max_checks": 0}, "plugins.health.max_checks: expected a number > 0, got 0.0"),
        (
            {"breaker_ratio": 1.5},
            "plugins.health.breaker_ratio: expected a number in (0, 1], got 1.5",
        ),
        ({"leak_ratio": 1.0}, "leak_ratio: expected a ratio > 1"),
        ({"heartbeat_intervl": 3}, "heartbeat_intervl: unknown key"),
    ],
)
def test_bad_settings_are_reported_with_their_key(
    settings_: dict[str, object], expected: str
) -> None:
    with pytest.raises((ConfigError, PluginError)) as info:
        Orchestrator.from_config({"plugins": {"enabled": ["health"], "health": settings_}})
    assert "plugins.health" in str(info.value)
    assert expected in str(info.value)
