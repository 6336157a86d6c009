"""``[plugins.metrics.slo]``: service level objectives over a rolling window, their error
budget burn rates, and a health summary of them, evaluated at each tick.

Each objective is measured, compared with its target in its own direction, and given a burn
rate: the share of its allowance used (1: exactly at the target). The summary score is the
mean over the objectives measured of 1 (met) or 1 / burn (missed); a change of its status is
an ``slo.health`` event, and ``GET /v1/metrics/slo`` on the gateway shows it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
from alveary import AgentState, FieldError, Host, NotFound
from alveary.validators import positive

from ._tally import RECENT, Tally

DIRECTIONS = {
    "availability": ">=",
    "latency_p95": "<=",
    "error_rate": "<=",
    "completion_rate": ">=",
}
"""Each objective and the way its value must compare with its target."""

STATUSES = ((0.9, "healthy"), (0.6, "degraded"), (0.3, "unhealthy"))
"""The lowest score of each status, best first; below the last: ``critical``."""

SERVING = (AgentState.READY, AgentState.BUSY)


def _share(instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
    if value is not None and not ok:
        raise FieldError(attribute.name, f"expected a number in (0, 1), got {value!r}")


@attrs.frozen
class Objectives:
    """The targets; an objective left unset is not measured."""

    window: float = attrs.field(default=3600.0, validator=positive)
    """Seconds back each objective looks."""
    availability: float | None = attrs.field(default=None, validator=_share)
    """Least share of the ticks at which some agent was ready or busy."""
    latency_p95: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(positive)
    )
    """Most seconds for the 95th percentile of the tasks' submission-to-end times."""
    error_rate: float | None = attrs.field(default=None, validator=_share)
    """Largest share of ended tasks (cancelled ones left out) that failed or died."""
    completion_rate: float | None = attrs.field(default=None, validator=_share)
    """Least share of ended tasks that succeeded."""

    def targets(self) -> dict[str, float]:
        """The objectives set, by name."""
        found = {name: getattr(self, name) for name in DIRECTIONS}
        return {name: target for name, target in found.items() if target is not None}


@attrs.frozen
class Objective:
    """One objective as measured: ``value`` is ``None`` when nothing was there to measure."""

    name: str
    op: str
    target: float
    value: float | None
    burn: float | None
    """The share of the allowance used: above 1, the objective is missed."""


def burn(name: str, target: float, value: float) -> float:
    """How much of the allowance ``value`` uses: for a share that must stay high, of the
    budget ``1 - target``; for the others, of ``target`` itself."""
    if DIRECTIONS[name] == ">=":
        return (1.0 - value) / (1.0 - target)
    return value / target


def status_of(score: float) -> str:
    """``healthy`` (>= 0.9), ``degraded`` (>= 0.6), ``unhealthy`` (>= 0.3) or ``critical``."""
    return next((status for least, status in STATUSES if score >= least), "critical")


@attrs.frozen
class Health:
    """The summary at one tick."""

    time: float
    window: float
    score: float
    status: str
    burn_rate: float
    """The largest burn rate of the objectives that are shares (the error budgets)."""
    objectives: tuple[Objective, ...]

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Slos:
    """Measures the objectives at each tick and keeps the latest summary."""

    def __init__(self, objectives: Objectives, tally: Tally) -> None:
        self.objectives = objectives
        self.targets = objectives.targets()
        self._tally = tally
        self._serving: deque[tuple[float, bool]] = deque(maxlen=RECENT)
        self.health: Health | None = None
        """The latest summary; ``None`` before the first tick or with no objective set."""

    def tick(self, host: Host) -> None:
        """Measure, summarize, and emit ``slo.health`` when the status changed."""
        if not self.targets:
            return
        now = host.now()
        start = now - self.objectives.window
        values = self._measure(host, now, start)
        found = []
        for name, target in self.targets.items():
            value = values[name]
            rate = None if value is None else burn(name, target, value)
            found.append(Objective(name, DIRECTIONS[name], target, value, rate))
        scores = [1.0 if o.burn <= 1.0 else 1.0 / o.burn for o in found if o.burn is not None]
        score = sum(scores) / len(scores) if scores else 1.0
        budgets = [o.burn for o in found if o.burn is not None and o.name != "latency_p95"]
        before = self.health.status if self.health is not None else "healthy"
        self.health = Health(
            now,
            self.objectives.window,
            score,
            status_of(score),
            max(budgets, default=0.0),
            tuple(found),
        )
        if self.health.status != before:
            data = self.health.as_dict()
            data["previous"] = before
            host.emit("slo.health", data=data)

    def _measure(self, host: Host, now: float, start: float) -> dict[str, float | None]:
        ended = self._tally.ended(start)
        states = ended.states
        total = sum(states.values())
        values: dict[str, float | None] = {
            "latency_p95": ended.p95,
            "error_rate": ended.error_rate,
            "completion_rate": states["succeeded"] / total if total else None,
            "availability": None,
        }
        if "availability" in self.targets:
            serving = self._serving
            serving.append((now, any(a.state in SERVING for a in host.agents())))
            while serving and serving[0][0] <= start:
                serving.popleft()
            if serving:
                values["availability"] = sum(up for _, up in serving) / len(serving)
        return values


class HealthEndpoint:
    """``GET /v1/metrics/slo`` on the gateway (its ``gateway_api``): the latest summary as
    JSON, for whoever may list the pools (``pool.read``): the same reading as
    ``alveary status``."""

    method = "GET"
    path = "/v1/metrics/slo"

    def __init__(self, slos: Slos) -> None:
        self.slos = slos
        self.host: Host | None = None
        """The orchestrator, set at start."""

    async def handle(
        self, credentials: Mapping[str, str], params: Mapping[str, str], body: Any
    ) -> tuple[int, Any]:
        if self.host is None:
            raise NotFound("the metrics plugin has not started")
        await self.host.authorize(credentials, "pool.read", "*")
        health = self.slos.health
        return 200, {"health": None if health is None else health.as_dict()}
