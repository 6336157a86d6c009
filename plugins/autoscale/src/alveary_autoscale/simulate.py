"""Drive a policy with a synthetic load curve on a simulated clock, to see how a pool would
size itself before running it: ``simulate(Policy(...), CURVES["spike"])``.

The model is a queue in front of a pool: tasks arrive (Poisson, at the curve's rate), wait
FIFO for a free slot, run for an exponential time, and agents take ``start_delay`` seconds to
come up. Each tick the real ``Autoscale`` plugin decides, with the kernel's rules applied:
the size is clamped to the pool's bounds and only idle agents are removed.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable

import alveary
import attrs

from ._config import Config, Policy
from ._plugin import Autoscale

Curve = Callable[[float], float]
"""Arrivals per second at a time in seconds."""


def step(low: float, high: float, at: float, until: float) -> Curve:
    return lambda t: high if at <= t < until else low


def ramp(low: float, high: float, start: float, peak: float, end: float) -> Curve:
    def rate(t: float) -> float:
        if t < start or t >= end:
            return low
        if t < peak:
            return low + (high - low) * (t - start) / (peak - start)
        return high - (high - low) * (t - peak) / (end - peak)

    return rate


def spike(low: float, high: float, at: float, length: float) -> Curve:
    return lambda t: high if at <= t < at + length else low


def burst(low: float, count: float, at: float) -> Curve:
    """``count`` tasks at once at ``at`` (within one second), on top of ``low`` per second."""
    return lambda t: low + count if at <= t < at + 1.0 else low


def sine(mean: float, amplitude: float, period: float) -> Curve:
    return lambda t: max(0.0, mean + amplitude * math.sin(2 * math.pi * t / period))


CURVES: dict[str, Curve] = {
    "step": step(2.0, 12.0, 300.0, 1500.0),
    "ramp": ramp(1.0, 15.0, 200.0, 1000.0, 1800.0),
    "spike": spike(2.0, 30.0, 600.0, 60.0),
    "sine": sine(8.0, 6.0, 900.0),
    "burst": burst(2.0, 400.0, 600.0),
}
"""The standard curves, in tasks per second over ``DURATION`` seconds, for tasks of 1 s on
average: a step up and back, a ramp up and down, a one-minute spike, a 15-minute wave, and
400 tasks at once."""

DURATION = 2400.0
SIZE = alveary.PoolSize(1, 50)


@attrs.define
class Result:
    """What happened: the series per tick and the totals."""

    times: list[float] = attrs.field(factory=list)
    desired: list[int] = attrs.field(factory=list)
    agents: list[int] = attrs.field(factory=list)
    queued: list[int] = attrs.field(factory=list)
    oldest_wait: list[float] = attrs.field(factory=list)
    rate: list[float] = attrs.field(factory=list)
    waits: list[float] = attrs.field(factory=list)
    """Each started task's wait in the queue, seconds."""
    changes: int = 0
    """Ticks at which the desired size changed."""
    reversals: int = 0
    """Changes in the opposite direction to the previous change: flapping."""
    agent_seconds: float = 0.0
    submitted: int = 0
    finished: int = 0

    def summary(self) -> dict[str, float]:
        waits = sorted(self.waits) or [0.0]
        return {
            "tasks": self.submitted,
            "finished": self.finished,
            "mean_wait": sum(waits) / len(waits),
            "p95_wait": waits[max(0, math.ceil(0.95 * len(waits)) - 1)],
            "max_wait": waits[-1],
            "min_size": min(self.desired),
            "max_size": max(self.desired),
            "changes": self.changes,
            "reversals": self.reversals,
            "agent_hours": self.agent_seconds / 3600,
        }


def simulate(
    policy: Policy,
    curve: Curve,
    *,
    duration: float = DURATION,
    tick: float = 1.0,
    task_duration: float = 1.0,
    capacity: int = 1,
    size: alveary.PoolSize = SIZE,
    start_delay: float = 2.0,
    seed: int = 1,
) -> Result:
    """Run ``policy`` against ``curve`` for ``duration`` simulated seconds."""
    rng = random.Random(seed)
    now = 0.0
    plugin = Autoscale(Config(pools={"sim": policy}), clock=lambda: now)
    plugin.memory = lambda: None  # the simulated host has no memory pressure
    spec = alveary.AgentSpec("sim", {"work"}, capacity=capacity)
    pool = alveary.Pool("sim", spec, size, size.min)
    starting: list[float] = [0.0] * size.min  # times agents become ready
    ready: list[int] = []  # in-flight count per ready agent
    running: list[tuple[float, int, float]] = []  # (finish time, agent index, duration) heap
    queue: deque[float] = deque()  # arrival times
    result = Result()
    last_direction = 0
    while now < duration:
        now += tick
        for ready_at in [t for t in starting if t <= now]:
            starting.remove(ready_at)
            ready.append(0)
        while running and running[0][0] <= now:
            _, index, took = heapq.heappop(running)
            if index < len(ready):
                ready[index] -= 1
            plugin.observe("sim", took, True)
            result.finished += 1
        for _ in range(_poisson(rng, curve(now) * tick)):
            queue.append(now - rng.random() * tick)
            result.submitted += 1
        for index, in_flight in enumerate(ready):
            while in_flight < capacity and queue:
                arrived = queue.popleft()
                result.waits.append(now - arrived)
                took = rng.expovariate(1 / task_duration)
                heapq.heappush(running, (now + took, index, took))
                in_flight += 1
            ready[index] = in_flight
        in_flight = sum(ready)
        agents = len(ready) + len(starting)
        metrics = alveary.PoolMetrics(
            agents=agents,
            ready=sum(1 for n in ready if n < capacity),
            busy=sum(1 for n in ready if n >= capacity),
            in_flight=in_flight,
            capacity=len(ready) * capacity,
            queued=len(queue),
            idle=sum(1 for n in ready if n == 0),
            oldest_wait=now - queue[0] if queue else 0.0,
        )
        proposed = plugin.alveary_scale(pool, metrics)
        desired = pool.size.clamp(proposed if proposed is not None else pool.desired)
        if desired != pool.desired:
            direction = 1 if desired > pool.desired else -1
            result.changes += 1
            if last_direction and direction != last_direction:
                result.reversals += 1
            last_direction = direction
            pool.desired = desired
        missing = pool.desired - agents
        if missing > 0:
            starting.extend([now + start_delay] * missing)
        elif missing < 0:
            _remove_idle(ready, running, -missing)
        result.times.append(now)
        result.desired.append(pool.desired)
        result.agents.append(len(ready) + len(starting))
        result.queued.append(len(queue))
        result.oldest_wait.append(metrics.oldest_wait)
        result.rate.append(curve(now))
        result.agent_seconds += (len(ready) + len(starting)) * tick
    return result


def _remove_idle(ready: list[int], running: list[tuple[float, int, float]], count: int) -> None:
    """Remove up to ``count`` idle agents, like the kernel; renumber the running tasks."""
    keep = list(range(len(ready)))
    for index in range(len(ready)):
        if count and ready[index] == 0:
            keep.remove(index)
            count -= 1
    renumber = {old: new for new, old in enumerate(keep)}
    ready[:] = [ready[i] for i in keep]
    running[:] = [(t, renumber[i], took) for t, i, took in running]
    heapq.heapify(running)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method for small means, normal approximation for large)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
