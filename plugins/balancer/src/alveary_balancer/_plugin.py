"""The ``balancer`` plugin: provides the strategies, scores agents, applies capacity tiers.

It keeps a ``Fleet`` of every registered agent (the strategies' view, busy agents included)
from the registration hooks, counts work in flight from the task hooks, and learns success
rates and latencies from ``alveary_attempt_finished``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import attrs
import structlog
from alveary import (
    Agent,
    AgentSpec,
    Host,
    Outcome,
    Rejected,
    Strategy,
    Task,
    TaskState,
    hookimpl,
)

from . import _config
from ._base import Picker
from ._choice import Adaptive, LeastOutstanding, PowerOfD, WeightedScore
from ._fleet import Fleet
from ._hashing import BoundedHash
from ._load import Admission
from ._rotation import RoundRobin, SmoothWeighted
from ._scores import Scorer

log = structlog.get_logger("alveary.balancer")


class Balancer:
    """Routing strategies by name, a routing score, and capacity tiers."""

    Config = _config.Config

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config = config or _config.Config()
        self.fleet = Fleet()
        self.admission = Admission(config.ceiling, config.health_floor, config.resources)
        self.scorer = Scorer(config, self.admission)
        self._orch: Host | None = None
        rng = random.Random()
        fleet, admission = self.fleet, self.admission
        p2c = PowerOfD(fleet, admission, config.d, rng)
        round_robin = RoundRobin(fleet, admission, config.scan_limit, rng)
        score = WeightedScore(fleet, admission, rng)
        self.adaptive = Adaptive(
            fleet,
            admission,
            {"round-robin": round_robin, "p2c": p2c, "weighted-score": score},
            config.high_load,
            config.high_spread,
            self._announce,
        )
        self.strategies: dict[str, Picker] = {
            "round-robin": round_robin,
            "weighted-round-robin": SmoothWeighted(
                fleet, admission, config.scan_limit, self.weight, rng
            ),
            "least-outstanding": LeastOutstanding(fleet, admission, rng),
            "p2c": p2c,
            "consistent-hash": BoundedHash(
                fleet,
                admission,
                epsilon=config.epsilon,
                vnodes=config.vnodes,
                scan_limit=config.scan_limit,
                fallback=p2c,
                rng=rng,
            ),
            "weighted-score": score,
            "adaptive": self.adaptive,
        }
        """Every strategy this plugin provides, by the name ``[orchestrator] strategy`` uses."""

    # -- components ----------------------------------------------------------------------------

    @hookimpl
    def alveary_strategies(self) -> Mapping[str, Strategy]:
        return self.strategies

    # -- lifecycle -----------------------------------------------------------------------------

    @hookimpl
    def alveary_startup(self, orchestrator: Host) -> None:
        self._orch = orchestrator
        for agent in orchestrator.agents():
            self.fleet.add(agent)

    @hookimpl
    def alveary_tick(self) -> None:
        self.adaptive.observe()

    # -- registration --------------------------------------------------------------------------

    @hookimpl
    def alveary_agent_validate(self, spec: AgentSpec) -> AgentSpec | None:
        """Check the weight label and apply the capacity tier named in the tier label."""
        raw = spec.labels.get(self.config.weight_label)
        if raw is not None:
            try:
                weight = int(raw)
            except ValueError:
                weight = 0
            if weight <= 0:
                raise Rejected(
                    f"label {self.config.weight_label}={raw!r}: expected a positive integer"
                )
        tier = spec.labels.get(self.config.tier_label)
        if tier is None:
            return None
        capacity = self.config.tiers.get(tier)
        if capacity is None:
            known = ", ".join(self.config.tiers)
            raise Rejected(f"label {self.config.tier_label}={tier!r}: not a tier ({known})")
        return attrs.evolve(spec, capacity=capacity)

    @hookimpl
    def alveary_agent_registered(self, agent: Agent) -> None:
        self.fleet.add(agent)

    @hookimpl
    def alveary_agent_deregistered(self, agent: Agent) -> None:
        self.fleet.remove(agent)
        self.scorer.forget(agent.id)

    # -- routing -------------------------------------------------------------------------------

    @hookimpl
    def alveary_route_score(self, task: Task, agent: Agent) -> float:
        return self.scorer.score(task, agent)

    # -- outcomes ------------------------------------------------------------------------------

    @hookimpl
    def alveary_attempt_finished(self, task: Task, agent: Agent, outcome: Outcome) -> None:
        """Every attempt ends here, its slot already freed: the fleet's sums follow, and the
        agent's record learns from how it went (a cancellation says nothing about it)."""
        self.fleet.sync(agent, agent.in_flight)
        if outcome.state is not TaskState.CANCELLED:
            self.scorer.record(agent, outcome.ok, task.running_for)

    # -- helpers -------------------------------------------------------------------------------

    def weight(self, agent: Agent) -> int:
        """The agent's ``weighted-round-robin`` weight: its label, else ``weights`` by name or
        pool, else its capacity."""
        raw = agent.spec.labels.get(self.config.weight_label)
        if raw is not None:
            return max(1, int(raw))
        weights = self.config.weights
        found = weights.get(agent.name)
        if found is None and agent.pool is not None:
            found = weights.get(agent.pool)
        return found if found is not None else agent.spec.capacity

    def _announce(self, old: str, new: str, data: dict[str, float]) -> None:
        if self._orch is None:
            return
        rounded = {k: round(v, 3) for k, v in data.items()}
        self._orch.emit("balancer.strategy", data={"from": old, "to": new, **rounded})
        log.info("adaptive strategy switched", old=old, new=new, **rounded)
