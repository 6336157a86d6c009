"""The balancer's routing score: skill, success rate, latency, load and freshness, each in
``[0, 1]``, weighted per task priority and normalised, so a score is in ``[0, 1]`` and
``[routing.weights] balancer`` means what it says."""

from __future__ import annotations

import time

import attrs
from alveary import Agent, Priority, Task

from ._config import Config, ScoreWeights
from ._load import Admission


@attrs.define(slots=True)
class Ewma:
    """A moving average with weight ``alpha`` for the newest sample, and a sample count."""

    value: float
    samples: int = 0

    def add(self, sample: float, alpha: float) -> None:
        self.value += alpha * (sample - self.value)
        self.samples += 1


@attrs.define(slots=True)
class AgentStats:
    """What the balancer learned of one agent from its attempts."""

    success: Ewma
    latency: Ewma


class Scorer:
    """Learns success rates and latencies from outcomes and scores agents for tasks.

    An agent without attempts yet counts as always successful, so a new agent gets tried
    (one failure brings it down to where evidence puts it), and as fast as the fleet's
    average. O(1) a score.
    """

    def __init__(self, config: Config, admission: Admission) -> None:
        self.config = config
        self.admission = admission
        self.fleet_latency = Ewma(0.0)
        self.stats: dict[str, AgentStats] = {}
        self._weights: dict[Priority, tuple[ScoreWeights, float]] = {}
        for priority in Priority:
            weights = config.by_priority.get(priority.name.lower(), config.score)
            self._weights[priority] = (weights, weights.total())

    def record(self, agent: Agent, ok: bool, seconds: float | None) -> None:
        """Learn from one attempt of ``agent`` (``seconds`` it ran, None if unknown)."""
        alpha = self.config.alpha
        stats = self.stats.get(agent.id)
        if stats is None:
            stats = self.stats[agent.id] = AgentStats(Ewma(1.0), Ewma(self.fleet_latency.value))
        outcome = 1.0 if ok else 0.0
        stats.success.add(outcome, alpha)
        if seconds is not None and seconds >= 0:
            if self.fleet_latency.samples == 0:
                self.fleet_latency.value = seconds
            if stats.latency.samples == 0:
                stats.latency.value = seconds
            stats.latency.add(seconds, alpha)
            self.fleet_latency.add(seconds, alpha)

    def forget(self, agent_id: str) -> None:
        self.stats.pop(agent_id, None)

    def parts(self, task: Task, agent: Agent, now: float | None = None) -> dict[str, float]:
        """Each part of the score, in ``[0, 1]``."""
        config = self.config
        skills = agent.spec.skills
        requires = task.spec.requires
        if requires and skills:
            skill = sum(min(1.0, max(0.0, skills.get(c, 1.0))) for c in requires) / len(requires)
        else:
            skill = 1.0
        stats = self.stats.get(agent.id)
        success = 1.0 if stats is None else stats.success.value
        reference = self.fleet_latency.value
        latency = reference if stats is None else stats.latency.value
        speed = 0.5 if reference <= 0 and latency <= 0 else reference / (reference + latency)
        load = self.admission.load(agent)
        room = max(0.0, 1.0 - load)
        if load > config.penalty_above:
            room *= config.penalty
        age = (time.time() if now is None else now) - agent.heartbeat
        fresh = max(0.0, 1.0 - max(0.0, age) / config.stale_after)
        return {
            "skill": skill,
            "success": success,
            "latency": speed,
            "load": room,
            "freshness": fresh,
        }

    def score(self, task: Task, agent: Agent) -> float:
        """The weighted mean of the parts for the task's priority."""
        weights, total = self._weights[task.spec.priority]
        if total <= 0:
            return 0.0
        p = self.parts(task, agent)
        return (
            weights.skill * p["skill"]
            + weights.success * p["success"]
            + weights.latency * p["latency"]
            + weights.load * p["load"]
            + weights.freshness * p["freshness"]
        ) / total
