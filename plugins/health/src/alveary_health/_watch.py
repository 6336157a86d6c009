"""What the plugin knows of one agent: a verdict per source, and the worst of them wins."""

from __future__ import annotations

import alveary
from alveary import HealthStatus

from ._breaker import Breaker
from ._config import Config
from ._memory import LeakWatch

SOURCES = ("dead", "checks", "heartbeat", "breaker", "tasks", "memory")
"""Where a verdict comes from, most telling first (it gives the reason on a tie)."""


class Watch:
    """One agent's health as seen from each source; ``verdict()`` combines them."""

    __slots__ = (
        "agent",
        "bad_checks",
        "beats",
        "breaker",
        "duration",
        "first_beat",
        "good_checks",
        "leak",
        "recycling",
        "unhealthy_since",
        "verdicts",
    )

    def __init__(self, agent: alveary.Agent, config: Config) -> None:
        self.agent = agent
        self.first_beat = agent.heartbeat
        self.beats = agent.spec.runtime in config.heartbeat_runtimes
        self.verdicts: dict[str, tuple[HealthStatus, str]] = {}
        self.bad_checks = 0
        self.good_checks = 0
        self.unhealthy_since: float | None = None
        self.breaker = Breaker(config)
        self.duration: float | None = None
        self.leak = LeakWatch()
        self.recycling = False

    def set(self, source: str, status: HealthStatus, reason: str = "") -> None:
        """Record ``source``'s verdict (healthy clears it)."""
        if status is HealthStatus.HEALTHY:
            self.verdicts.pop(source, None)
        else:
            self.verdicts[source] = (status, reason)

    def get(self, source: str) -> HealthStatus:
        return self.verdicts.get(source, (HealthStatus.HEALTHY, ""))[0]

    def verdict(self) -> tuple[HealthStatus, str]:
        """The worst verdict and its reason; healthy when no source complains."""
        worst: tuple[HealthStatus, str] = (HealthStatus.HEALTHY, "healthy")
        for source in SOURCES:
            found = self.verdicts.get(source)
            if found is not None and found[0] > worst[0]:
                worst = found
        return worst

    def down(self) -> str | None:
        """Why the agent counts as down (no heartbeat, failing checks), or None."""
        for source in ("heartbeat", "checks"):
            status, reason = self.verdicts.get(source, (HealthStatus.HEALTHY, ""))
            if status >= HealthStatus.UNHEALTHY:
                return reason
        return None
