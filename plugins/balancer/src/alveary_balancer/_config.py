"""``[plugins.balancer]``: the strategies' options, the score's weights and the tiers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from alveary.validators import fraction, non_negative, positive, rate

PRIORITIES = ("low", "medium", "high", "critical")


def _positive_values(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, int]
) -> None:
    for key, number in value.items():
        if number <= 0:
            raise ValueError(f"{attribute.name}.{key}: expected an integer > 0, got {number!r}")


def _priority_keys(
    instance: object, attribute: attrs.Attribute[Any], value: Mapping[str, Any]
) -> None:
    for key in value:
        if key not in PRIORITIES:
            raise ValueError(
                f"{attribute.name}.{key}: not a priority (one of {', '.join(PRIORITIES)})"
            )


@attrs.frozen
class ScoreWeights:
    """How much each part of the balancer's score counts. Each part is in ``[0, 1]`` and the
    score is their weighted mean, so it stays in ``[0, 1]`` whatever the weights."""

    skill: float = attrs.field(default=1.0, validator=non_negative)
    """The agent's declared level (``AgentSpec.skills``) for the task's capabilities."""
    success: float = attrs.field(default=1.0, validator=non_negative)
    """Its recent success rate (moving average)."""
    latency: float = attrs.field(default=1.0, validator=non_negative)
    """How fast its recent attempts were against the fleet's (moving averages)."""
    load: float = attrs.field(default=1.0, validator=non_negative)
    """Room left: one minus its load factor, halved above ``penalty_above``."""
    freshness: float = attrs.field(default=1.0, validator=non_negative)
    """How recent its last heartbeat is."""

    def total(self) -> float:
        return self.skill + self.success + self.latency + self.load + self.freshness


def _default_by_priority() -> dict[str, ScoreWeights]:
    performance = ScoreWeights(skill=0.5, success=2.0, latency=2.0)
    capability = ScoreWeights(skill=2.0)
    return {
        "critical": performance,
        "high": ScoreWeights(success=1.5, latency=1.5),
        "medium": capability,
        "low": capability,
    }


def _default_tiers() -> dict[str, int]:
    return {"light": 2, "standard": 5, "heavy": 8, "enterprise": 12}


@attrs.frozen
class Config:
    """How the balancer routes. Loads are fractions in ``[0, 1]``; times are in seconds."""

    # -- admission: what every balancer strategy refuses --------------------------------------
    ceiling: float = attrs.field(default=0.85, validator=fraction)
    """An agent whose reported resource usage (``resources``) is at or above this takes no
    task. In-flight work is already capped by the agent's capacity."""
    health_floor: float = attrs.field(default=0.7, validator=fraction)
    """An agent whose health counts below this (healthy 1.0, degraded 0.5) gets a task only
    when no healthier candidate is at hand, so a fleet that degrades as a whole still works."""
    resources: tuple[str, ...] = ("context", "memory", "cpu")
    """Heartbeat metrics (usage in ``[0, 1]``) that count in an agent's load factor."""

    # -- strategies ---------------------------------------------------------------------------
    d: int = attrs.field(default=2, validator=positive)
    """Choices the ``p2c`` strategy samples (the power of d choices)."""
    epsilon: float = attrs.field(default=0.25, validator=positive)
    """``consistent-hash``: an agent takes a key's task only while its load stays within
    ``(1 + epsilon)`` times the average (weighted by capacity); beyond, the ring is walked."""
    vnodes: int = attrs.field(default=64, validator=positive)
    """Points per agent on the hash ring: more spread keys more evenly."""
    scan_limit: int = attrs.field(default=64, validator=positive)
    """Agents the round-robin, weighted and hashing strategies look at before they give up
    their order for a random sample: what keeps them O(1) in a saturated fleet."""
    weight_label: str = "weight"
    """The agent label giving its ``weighted-round-robin`` weight (a positive integer)."""
    weights: dict[str, int] = attrs.field(factory=dict, validator=_positive_values)
    """Weights by agent name or pool name, for agents without the label. Default: capacity."""
    high_load: float = attrs.field(default=0.7, validator=fraction)
    """``adaptive``: an average load factor above this routes by score (performance)."""
    high_spread: float = attrs.field(default=0.25, validator=non_negative)
    """``adaptive``: a standard deviation of load above this routes by ``p2c``."""

    # -- the score ----------------------------------------------------------------------------
    alpha: float = attrs.field(default=0.1, validator=rate)
    """Weight of the newest attempt in the success and latency moving averages."""
    stale_after: float = attrs.field(default=60.0, validator=positive)
    """A heartbeat this old scores 0 for freshness (twice the usual 30 s interval)."""
    penalty_above: float = attrs.field(default=0.7, validator=fraction)
    """Above this load factor, the load part of the score is multiplied by ``penalty``."""
    penalty: float = attrs.field(default=0.5, validator=fraction)
    """The workload penalty."""
    score: ScoreWeights = attrs.field(factory=ScoreWeights)
    """Weights for priorities that ``by_priority`` does not name."""
    by_priority: dict[str, ScoreWeights] = attrs.field(
        factory=_default_by_priority, validator=_priority_keys
    )
    """Weights per task priority: critical work weighs performance more, normal work
    capability more."""

    # -- capacity tiers -----------------------------------------------------------------------
    tier_label: str = "tier"
    """The agent label naming its tier; the agent is registered with that tier's capacity."""
    tiers: dict[str, int] = attrs.field(factory=_default_tiers, validator=_positive_values)
    """Concurrent tasks per agent for each tier."""
