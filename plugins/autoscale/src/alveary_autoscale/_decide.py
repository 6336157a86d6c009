"""One pool's scaling decisions: signals propose sizes, guards pace the change.

Pure of I/O and of the clock: ``Scaler.decide`` takes the time, so the same code runs in the
orchestrator and in the simulation harness.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import attrs

from ._config import Policy


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
        }


class Scaler:
    """The memory of one pool's decisions: last changes per direction and recent proposals."""

    def __init__(self, name: str, policy: Policy) -> None:
        self.name = name
        self.policy = policy
        self.last_up = -math.inf
        self.last_change = -math.inf
        self.downs: deque[int] = deque(maxlen=policy.down_confirm)
        self._smooth: dict[str, float] = {}
        self._last: float | None = None

    def decide(
        self, size: int, low: int, high: int, metrics: dict[str, float], now: float
    ) -> Decision:
        """Decide a size between ``low`` and ``high`` for a pool now at ``size``."""
        policy = self.policy
        self._average(metrics, now)
        proposals = self._proposals(size, metrics)

        memory = metrics.get("memory")
        if memory is not None and memory > policy.shed_above:
            self.downs.clear()
            shed = min(int(metrics.get("idle", 0)), math.ceil(size * policy.shed_percent / 100))
            target = max(low, size - shed)
            reason = f"memory {memory:.1%} > {policy.shed_above:.0%}: shed idle agents"
            if target < size:
                self.last_change = now
                return self._made(size, target, "shed", reason, None, metrics, proposals)
            return self._made(
                size, size, "hold", reason, "no idle agent to shed", metrics, proposals
            )

        ups = {k: v for k, v in proposals.items() if v > size}
        if ups:
            self.downs.clear()
            wanted = max(ups.values())
            why = ", ".join(f"{k} wants {v}" for k, v in ups.items())
            step = min(policy.max_up, self._cap(size), wanted - size)
            target = min(high, size + step)
            if target <= size:
                return self._made(
                    size, size, "hold", why, f"at max size {high}", metrics, proposals
                )
            if now - self.last_up < policy.up_cooldown:
                left = policy.up_cooldown - (now - self.last_up)
                held = f"up cool-down: {left:.0f} s left"
                return self._made(size, size, "hold", why, held, metrics, proposals)
            self.last_up = self.last_change = now
            return self._made(size, target, "up", why, None, metrics, proposals)

        if proposals and all(v < size for v in proposals.values()):
            self.downs.append(max(proposals.values()))
            why = ", ".join(f"{k} wants {v}" for k, v in proposals.items())
            if len(self.downs) < policy.down_confirm:
                held = f"down proposed {len(self.downs)} of {policy.down_confirm} ticks"
                return self._made(size, size, "hold", why, held, metrics, proposals)
            if now - self.last_change < policy.down_cooldown:
                left = policy.down_cooldown - (now - self.last_change)
                held = f"down cool-down: {left:.0f} s left"
                return self._made(size, size, "hold", why, held, metrics, proposals)
            wanted = max(self.downs)
            idle = int(metrics.get("idle", 0))
            step = min(policy.max_down, self._cap(size), size - wanted, idle)
            target = max(low, size - step)
            if target >= size:
                held = f"at min size {low}" if size <= low else "no idle agent to remove"
                return self._made(size, size, "hold", why, held, metrics, proposals)
            self.downs.clear()
            self.last_change = now
            return self._made(size, target, "down", why, None, metrics, proposals)

        self.downs.clear()
        return self._made(size, size, "hold", "steady", None, metrics, proposals)

    # -- signals -------------------------------------------------------------------------------

    def _average(self, metrics: dict[str, float], now: float) -> None:
        """Add the moving averages ``in_flight_avg`` and ``queued_avg`` to ``metrics``."""
        tau = self.policy.smoothing
        elapsed = now - self._last if self._last is not None else math.inf
        self._last = now
        weight = 1.0 if tau <= 0 else 1.0 - math.exp(-max(elapsed, 0.0) / tau)
        for name in ("in_flight", "queued"):
            value = metrics.get(name, 0.0)
            old = self._smooth.get(name, value)
            self._smooth[name] = old + weight * (value - old)
            metrics[name + "_avg"] = self._smooth[name]

    def _proposals(self, size: int, m: dict[str, float]) -> dict[str, int]:
        """Each signal's proposed size; a signal with nothing to say is left out."""
        policy = self.policy
        found: dict[str, int] = {}
        capacity, slots = m.get("capacity", 0.0), max(m.get("slots", 1.0), 1.0)
        in_flight, queued = m.get("in_flight_avg", 0.0), m.get("queued_avg", 0.0)
        if policy.target_duration > 0:
            duration = m.get("duration", policy.default_duration)
            needed = in_flight + queued * duration / policy.target_duration
            found["work"] = math.ceil(needed / slots - 1e-9)
        if capacity:
            util = in_flight / capacity
            if util > policy.scale_up_above or util < policy.scale_down_below:
                middle = (policy.scale_up_above + policy.scale_down_below) / 2
                found["utilisation"] = math.ceil(in_flight / (middle * slots) - 1e-9)
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
        held: str | None,
        metrics: dict[str, float],
        proposals: dict[str, int],
    ) -> Decision:
        return Decision(self.name, size, target, direction, reason, held, metrics, proposals)
