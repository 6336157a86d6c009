"""Alert rules, evaluated at each tick: ``alert.firing`` when a rule's comparison has held
``for_seconds`` (and its cooldown has passed), ``alert.escalated`` once when it is still firing
``escalate_after`` seconds later, ``alert.resolved`` when it no longer holds.

Each is an event (``Host.emit``), so shell hooks and webhooks of alveary-hooks act on them like
on any other. The evaluation reads the tally and the host at the tick; it adds nothing to the
handling of each event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from alveary import AgentState, Host

from ._rules import BY_KIND, WINDOWED, Rule
from ._tally import Tally, queues


class Measure:
    """The value now of the metric a rule names; ``None`` when it is unknown (no task ended
    in the window, no ``/proc`` to read memory from)."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def __call__(self, rule: Rule, host: Host, now: float) -> float | None:
        metric = rule.metric
        if metric in BY_KIND:
            return self._ended(rule, now)
        if metric == "ready_agents":
            capability = rule.capability
            return float(
                sum(
                    1
                    for agent in host.agents()
                    if agent.state is AgentState.READY and capability in agent.spec.capabilities
                )
            )
        if metric == "queue_depth":
            return float(len(host.waiting()))
        if metric == "queue_wait":
            oldest = [since for _, since in queues(host).values()]
            return max(0.0, now - min(oldest)) if oldest else 0.0
        if metric == "auth_failures":
            start = now - rule.window
            return float(sum(1 for t in reversed(self._tally.unauthenticated) if t > start))
        return rss()

    def _ended(self, rule: Rule, now: float) -> float | None:
        """Latency, error rate or failures per hour of the tasks that ended in the window."""
        want = None
        if rule.kind is not None:
            want = self._tally.kinds.get(rule.kind)
            if want is None:  # no task of that kind yet
                return None if rule.metric != "failed_per_hour" else 0.0
        ended = self._tally.ended(now - rule.window, want)
        if rule.metric == "failed_per_hour":
            failed = ended.states["failed"] + ended.states["dead"]
            return failed * 3600.0 / rule.window
        return ended.error_rate if rule.metric == "error_rate" else ended.p95


def rss() -> float | None:
    """Resident memory of this process in bytes, from ``/proc/self/statm``; ``None``
    where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            pages = int(statm.read().split()[1])
        return float(pages * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class State:
    """Where one rule is: holding since when, firing since when, escalated or not."""

    __slots__ = ("escalated", "fired_at", "firing", "since")

    def __init__(self) -> None:
        self.since: float | None = None
        self.fired_at: float | None = None
        self.firing = False
        self.escalated = False


class Alerts:
    """Every rule of ``[plugins.metrics.alerts]`` and its state; ``tick`` evaluates them."""

    def __init__(self, rules: Mapping[str, Rule], tally: Tally) -> None:
        self.rules = dict(rules)
        self.states = {name: State() for name in rules}
        self.measure = Measure(tally)
        self.evaluated = 0
        """Ticks evaluated so far (tests wait on it to see that nothing fired)."""

    def firing(self) -> list[str]:
        """The names of the rules firing now."""
        return [name for name, state in self.states.items() if state.firing]

    def tick(self, host: Host) -> None:
        """Evaluate every rule at ``host.now()`` and emit what changed."""
        now = host.now()
        for name, rule in self.rules.items():
            value = self.measure(rule, host, now)
            state = self.states[name]
            if not rule.holds(value):
                state.since = None
                if state.firing:
                    state.firing = False
                    host.emit("alert.resolved", data=self._data(name, rule, state, value, now))
                continue
            if state.since is None:
                state.since = now
            if state.firing:
                assert state.fired_at is not None
                due = rule.escalate_after and now - state.fired_at >= rule.escalate_after
                if due and not state.escalated:
                    state.escalated = True
                    host.emit("alert.escalated", data=self._data(name, rule, state, value, now))
                continue
            quiet = state.fired_at is None or now - state.fired_at >= rule.cooldown
            if now - state.since >= rule.for_seconds and quiet:
                state.firing, state.fired_at, state.escalated = True, now, False
                host.emit("alert.firing", data=self._data(name, rule, state, value, now))
        self.evaluated += 1

    @staticmethod
    def _data(name: str, rule: Rule, state: State, value: float | None, now: float) -> Any:
        data: dict[str, Any] = {
            "rule": name,
            "metric": rule.metric,
            "op": rule.op,
            "threshold": rule.threshold,
            "value": value,
            "for_seconds": rule.for_seconds,
            "escalated": state.escalated,
        }
        if state.since is not None:
            data["holding_since"] = state.since
        if state.fired_at is not None:
            data["firing_for"] = now - state.fired_at
        if rule.metric in WINDOWED:
            data["window"] = rule.window
        if rule.kind is not None:
            data["kind"] = rule.kind
        if rule.capability is not None:
            data["capability"] = rule.capability
        return data
