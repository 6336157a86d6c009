"""An agent's load factor and whether it may take more work: what every strategy compares."""

from __future__ import annotations

from alveary import Agent, HealthStatus

HEALTH = {
    HealthStatus.HEALTHY: 1.0,
    HealthStatus.DEGRADED: 0.5,
    HealthStatus.UNHEALTHY: 0.0,
    HealthStatus.FAILED: 0.0,
}
"""What each health status counts for against ``health_floor``."""


class Admission:
    """The load factor of an agent and the ceiling and floor it must respect.

    The load factor is the larger of the agent's in-flight share of its capacity and the
    highest resource usage it reported in a heartbeat (``context``, ``memory``, ``cpu``): the
    tightest constraint is the one that matters. All O(1).
    """

    __slots__ = ("ceiling", "floor", "resources")

    def __init__(self, ceiling: float, floor: float, resources: tuple[str, ...]) -> None:
        self.ceiling = ceiling
        self.floor = floor
        self.resources = resources

    def usage(self, agent: Agent) -> float:
        """The highest reported resource usage, 0 if the agent reports none."""
        metrics = agent.metrics
        if not metrics:
            return 0.0
        return max((float(metrics.get(name, 0.0)) for name in self.resources), default=0.0)

    def load(self, agent: Agent, extra: int = 0) -> float:
        """The load factor, counting ``extra`` more tasks in flight."""
        share = (agent.in_flight + extra) / agent.spec.capacity
        if not agent.metrics:
            return share
        return max(share, self.usage(agent))

    def admits(self, agent: Agent) -> bool:
        """May the agent take one more task: its reported resources are under the ceiling.
        (Capacity and readiness are the kernel's own checks.) A hard limit: the task waits
        rather than push an agent past it."""
        return not agent.metrics or self.usage(agent) < self.ceiling

    def healthy(self, agent: Agent) -> bool:
        """Is the agent's health at or above the floor? A soft limit: strategies prefer such
        agents and fall back on the others only when nothing better is at hand, so a fleet
        that degrades as a whole (a shared dependency failing) still works."""
        return HEALTH[agent.health] >= self.floor

    def preferred(self, agent: Agent) -> bool:
        """Admitted and healthy: what ordered strategies (turns, hashing) look for."""
        return HEALTH[agent.health] >= self.floor and self.admits(agent)
