"""One pool's scaling decisions: signals propose sizes, guards pace the change.

Pure of I/O and of the clock: ``Scaler.decide`` takes the time, so the same code runs in the
orchestrator and in the simulation harness.
"""

from __future__ import annotations

import functools
import math
from collections import deque
from typing import Any

import attrs

from ._config import MOST, Policy, agents_for


@attrs.frozen
class Decision:
    """What the scaler decided for a pool at one tick, and from what."""

    pool: str
    size: int
    """The pool's desired size before the decision."""
    target: int
    """The size decided (``size`` when nothing changes)."""
    direction: str
    """``up``, ``down``, ``shed`` (memory pressure) or ``hold``."""
    reason: str
    held: str | None
    """Why a wanted change did not happen (cool-down, hysteresis, bounds), or None."""
    inputs: dict[str, float]
    proposals: dict[str, int]
    """Each signal's proposal on the raw inputs: what a scale-up follows."""
    smoothed: dict[str, int]
    """Each signal's proposal on the moving averages, empty until they are warm: what a
    scale-down follows."""

    def data(self) -> dict[str, Any]:
        """The decision as event data."""
        return {
            "pool": self.pool,
            "from": self.size,
            "to": self.target,
            "direction": self.direction,
            "reason": self.reason,
            "held": self.held,
            "inputs": {k: round(v, 4) for k, v in self.inputs.items()},
            "proposals": self.proposals,
            "smoothed": self.smoothed,
        }


class Scaler:
    """The memory of one pool's decisions: the last scale-up and its goal, the last change,
    recent scale-down proposals and the moving averages."""

    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.policy = policy
        self.last_up = -math.inf
        """When the last scale-up was decided; the steps towards its goal follow each tick."""
        self.goal = 0
        """The size the last scale-up decision aimed at."""
        self.last_change = -math.inf
        self.downs: deque[int] = deque(maxlen=policy.down_confirm)
        self._smooth: dict[str, float] = {}
        self._first: float | None = None
        self._last: float | None = None

    def decide(
        self, size: int, low: int, high: int, metrics: dict[str, float], now: float
    ) -> Decision:
        """Decide a size between ``low`` and ``high`` for a pool now at ``size``.

        A scale-up reads the raw queue, so a burst is answered at the next tick; a scale-down
        reads the moving averages too, and only once they have warmed up for one
        ``smoothing`` time constant. A metric that is not a finite number is left out, and
        none is read beyond ``MOST``."""
        metrics = {k: max(-MOST, min(v, MOST)) for k, v in metrics.items() if math.isfinite(v)}
        warm = self._average(metrics, now)
        raw = self._proposals(size, metrics, up=True)
        smoothed = self._proposals(size, metrics, up=False) if warm else {}
        made = functools.partial(self._made, size, inputs=metrics, proposals=raw, smoothed=smoothed)
        policy = self.policy

        memory = metrics.get("memory")
        if memory is not None and memory > policy.shed_above:
            self.downs.clear()
            shed = min(int(metrics.get("idle", 0)), math.ceil(size * policy.shed_percent / 100))
            target = max(low, size - shed)
            reason = f"memory {memory:.1%} > {policy.shed_above:.0%}: shed idle agents"
            if target < size:
                self.last_change = now
                return made(target, "shed", reason)
            return made(size, "hold", reason, "no idle agent to shed")

        ups = {k: v for k, v in raw.items() if v > size}
        if ups:
            self.downs.clear()
            why = ", ".join(f"{k} wants {v}" for k, v in ups.items())
            wanted = min(high, max(ups.values()))
            if wanted <= size:
                return made(size, "hold", why, f"at max size {high}")
            fresh = now - self.last_up >= policy.up_cooldown
            goal = wanted if fresh else min(wanted, self.goal)
            if goal <= size:
                left = policy.up_cooldown - (now - self.last_up)
                return made(size, "hold", why, f"up cool-down: {left:.0f} s left")
            if fresh:
                self.last_up, self.goal = now, wanted
            self.last_change = now
            step = min(policy.max_up, max(size, self._cap(size)), goal - size)
            return made(size + step, "up", why)

        if size > low and smoothed and all(v < size for v in smoothed.values()):
            self.downs.append(max(smoothed.values()))
            why = ", ".join(f"{k} wants {v}" for k, v in smoothed.items()) + " (smoothed)"
            if len(self.downs) < policy.down_confirm:
                held = f"down proposed {len(self.downs)} of {policy.down_confirm} ticks"
                return made(size, "hold", why, held)
            if now - self.last_change < policy.down_cooldown:
                left = policy.down_cooldown - (now - self.last_change)
                return made(size, "hold", why, f"down cool-down: {left:.0f} s left")
            idle = int(metrics.get("idle", 0))
            step = min(policy.max_down, self._cap(size), size - max(self.downs), idle)
            if step <= 0:
                return made(size, "hold", why, "no idle agent to remove")
            self.downs.clear()
            self.last_change = now
            return made(max(low, size - step), "down", why)

        self.downs.clear()
        return made(size, "hold", "steady")

    # -- signals -------------------------------------------------------------------------------

    def _average(self, metrics: dict[str, float], now: float) -> bool:
        """Add the moving averages ``in_flight_avg`` and ``queued_avg`` to ``metrics``; True
        once they have been fed for one ``smoothing`` time constant (they are warm)."""
        tau = self.policy.smoothing
        if self._first is None:
            self._first = now
        elapsed = now - self._last if self._last is not None else math.inf
        self._last = now
        weight = 1.0 if tau <= 0 else 1.0 - math.exp(-max(elapsed, 0.0) / tau)
        for name in ("in_flight", "queued"):
            value = metrics.get(name, 0.0)
            old = self._smooth.get(name, value)
            self._smooth[name] = old + weight * (value - old)
            metrics[name + "_avg"] = self._smooth[name]
        return now - self._first >= tau

    def _proposals(self, size: int, m: dict[str, float], up: bool) -> dict[str, int]:
        """Each signal's proposed size; a signal with nothing to say is left out.

        For a scale-up (``up``) the work signal reads the raw values and counts the queue in
        whole agents' worth of work (a task or two waiting on a busy pool is noise, not a
        burst), and utilisation reads the lesser of ``in_flight`` and its average. For a
        scale-down, every signal reads the greater of each value and its average."""
        policy = self.policy
        found: dict[str, int] = {}
        capacity, slots = m.get("capacity", 0.0), max(m.get("slots", 1.0), 1.0)
        in_flight, queued = m.get("in_flight", 0.0), m.get("queued", 0.0)
        busy = (min if up else max)(in_flight, m["in_flight_avg"])
        if policy.target_duration > 0:
            duration = m.get("duration", policy.default_duration)
            if up:
                share = queued * duration / policy.target_duration / slots
                found["work"] = agents_for(in_flight / slots) + math.floor(min(share, MOST))
            else:
                waiting = max(queued, m["queued_avg"])
                found["work"] = agents_for(
                    (busy + waiting * duration / policy.target_duration) / slots
                )
        if capacity:
            util = busy / capacity
            if util > policy.scale_up_above or util < policy.scale_down_below:
                middle = (policy.scale_up_above + policy.scale_down_below) / 2
                found["utilisation"] = agents_for(busy / (middle * slots))
            else:
                found["utilisation"] = size
        if policy.max_queue_wait > 0 and m.get("queue_wait", 0.0) > policy.max_queue_wait:
            found["queue_wait"] = size + max(1, math.ceil(m.get("queued", 0.0) / slots))
        for rule in policy.rules:
            if rule.matches(m):
                found[f"rule {rule.name}"] = rule.propose(size)
        return found

    def _cap(self, size: int) -> int:
        """The most a step may change ``size`` by, from ``max_change_percent``."""
        return max(1, math.floor(size * self.policy.max_change_percent / 100))

    def _made(
        self,
        size: int,
        target: int,
        direction: str,
        reason: str,
        held: str | None = None,
        *,
        inputs: dict[str, float],
        proposals: dict[str, int],
        smoothed: dict[str, int],
    ) -> Decision:
        return Decision(
            self.name, size, target, direction, reason, held, inputs, proposals, smoothed
        )
