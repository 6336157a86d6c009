"""``[plugins.health]``: every threshold of the health plugin, with the defaults it runs on."""

from __future__ import annotations

from typing import Any

import attrs
from alveary.validators import non_negative, positive, rate


def _growth(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 1:
        raise ValueError(f"{attribute.name}: expected a ratio > 1, got {value!r}")


@attrs.frozen
class Config:
    """How the health plugin watches agents. Times are in seconds."""

    # -- heartbeats --------------------------------------------------------------------------
    heartbeat_interval: float = attrs.field(default=30.0, validator=positive)
    """How often an agent should heartbeat while the fleet is small."""
    max_heartbeats: float = attrs.field(default=1000.0, validator=positive)
    """Heartbeats per second the orchestrator handles at most: the interval grows to
    ``agents / max_heartbeats`` when that is longer than ``heartbeat_interval``."""
    stale_after: float = attrs.field(default=2.0, validator=positive)
    """Intervals without a heartbeat before an agent is unhealthy."""
    heartbeat_runtimes: tuple[str, ...] = ()
    """Runtimes whose agents must heartbeat from registration on. Agents of other runtimes are
    held to their interval once they sent a first heartbeat."""
    fail_after: float = attrs.field(default=300.0, validator=positive)
    """An agent unhealthy this long (no heartbeat, or failing checks) is failed: removed, its
    tasks re-queued (counted as an attempt), a pool's agent replaced."""

    # -- active checks -----------------------------------------------------------------------
    check_interval: float = attrs.field(default=30.0, validator=positive)
    """How often each agent is checked (``alveary_health_check``, memory) in a small fleet."""
    max_checks: float = attrs.field(default=100.0, validator=positive)
    """Checks per second at most: the interval grows to ``agents / max_checks``."""
    unhealthy_after: int = attrs.field(default=3, validator=positive)
    """Unhealthy check reports in a row before the agent is unhealthy."""
    recover_after: int = attrs.field(default=2, validator=positive)
    """Healthy check reports in a row before an unhealthy agent is healthy again."""

    # -- task outcomes and the circuit breaker -----------------------------------------------
    window: int = attrs.field(default=20, validator=positive)
    """Attempts per agent that the error rate and the breaker's failure ratio look at."""
    min_requests: int = attrs.field(default=10, validator=positive)
    """Attempts in the window before the error rate or the breaker judge an agent."""
    error_rate: float = attrs.field(default=0.05, validator=rate)
    """A failure ratio above this marks the agent degraded."""
    breaker_failures: int = attrs.field(default=5, validator=positive)
    """Consecutive failed attempts that open the agent's circuit breaker."""
    breaker_ratio: float = attrs.field(default=0.3, validator=rate)
    """A failure ratio at or above this opens the breaker too."""
    breaker_cooldown: float = attrs.field(default=60.0, validator=positive)
    """How long an open breaker keeps the agent out of routing before one probe task."""
    slow_after: float = attrs.field(default=0.0, validator=non_negative)
    """Mark an agent degraded when the moving average (alpha 0.1) of its attempts' durations
    exceeds this; 0 turns it off, since how long a task takes depends on the task."""

    # -- memory leaks ------------------------------------------------------------------------
    leak_ratio: float = attrs.field(default=1.5, validator=_growth)
    """Resident memory growing more than this factor within ``leak_window`` is a leak."""
    leak_window: float = attrs.field(default=600.0, validator=positive)
    """The span of memory samples the growth is measured over."""
    leak_min_growth: float = attrs.field(default=64.0, validator=non_negative)
    """Growth below this many MiB is never a leak (start-up, small processes)."""
    recycle: bool = True
    """Drain and replace a leaking agent of a pool (it finishes its work first)."""
