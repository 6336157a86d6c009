"""``[plugins.context]``: session affinity, expertise learning and context pressure."""

from __future__ import annotations

import attrs
from alveary.validators import fraction, non_negative, positive, rate


@attrs.frozen
class ExpertiseWeights:
    """How much each part of the expertise score counts (a weighted mean, in ``[0, 1]``).
    A part the task or agent does not describe is left out of the mean."""

    learned: float = attrs.field(default=1.0, validator=non_negative)
    """Success at this task kind, learned from outcomes, blended with the declared skill by
    confidence."""
    fit: float = attrs.field(default=0.5, validator=non_negative)
    """Complexity fit: a task labelled ``complexity`` above the agent's skill scores lower."""
    preference: float = attrs.field(default=0.25, validator=non_negative)
    """The agent's ``prefers`` label lists the task's kind."""


def _check_thresholds(config: Config) -> None:
    order = (config.wake_below, config.busy_above, config.sleep_above, config.critical_above)
    if not order[0] < order[1] <= order[2] <= order[3]:
        raise ValueError(
            "expected wake_below < busy_above <= sleep_above <= critical_above, got "
            f"{order[0]} / {order[1]} / {order[2]} / {order[3]}"
        )


@attrs.frozen
class Config:
    """How the context plugin routes and watches context usage. Usage is a fraction of the
    agent's context window in ``[0, 1]``; times are in seconds."""

    # -- session affinity ---------------------------------------------------------------------
    epsilon: float = attrs.field(default=0.25, validator=positive)
    """A session stays on its agent while that agent's load is within ``(1 + epsilon)`` times
    the average (weighted by capacity); a new session is placed by bounded-load hashing."""
    vnodes: int = attrs.field(default=64, validator=positive)
    """Points per agent on the hash ring that places new sessions."""
    scan_limit: int = attrs.field(default=64, validator=positive)
    """Agents a placement looks at along the ring before it falls back to the best score."""
    max_sessions: int = attrs.field(default=100_000, validator=positive)
    """Sessions remembered; the least recently used are forgotten first."""

    # -- expertise ----------------------------------------------------------------------------
    learning_rate: float = attrs.field(default=0.1, validator=rate)
    """Weight of the newest outcome in a profile's success and latency averages."""
    confidence_samples: float = attrs.field(default=10.0, validator=positive)
    """Outcomes at which a profile's confidence reaches one half (``n / (n + this)``)."""
    explore: float = attrs.field(default=0.1, validator=fraction)
    """Share of tasks scored to favour the least-known agents, so cold agents still learn."""
    profile_label: str = "kind"
    """Agents with the same value of this label share a profile; without it an agent's pool
    is its profile, and without a pool its name."""
    prefers_label: str = "prefers"
    """Agent label listing the task kinds it prefers, comma-separated."""
    complexity_label: str = "complexity"
    """Task label with its complexity in ``[0, 1]``, compared with the agent's skill."""
    weights: ExpertiseWeights = attrs.field(factory=ExpertiseWeights)

    # -- context pressure ---------------------------------------------------------------------
    metric: str = "context"
    """The usage an agent reports: ``orchestrator.heartbeat(agent, context=0.9)``, or a key
    of a task's value when that value is a mapping."""
    busy_above: float = attrs.field(default=0.8, validator=fraction)
    """At or above this usage an agent takes no high or critical priority task."""
    sleep_above: float = attrs.field(default=0.85, validator=fraction)
    """At or above this usage an agent sleeps: a pool's agent is drained and replaced by a
    fresh one (``recycle``), any other agent takes no task until it is below ``wake_below``."""
    critical_above: float = attrs.field(default=0.95, validator=fraction)
    """At or above this a pool's agent is replaced at once: its tasks are re-queued without
    spending an attempt, ahead of the per-pool limit."""
    wake_below: float = attrs.field(default=0.5, validator=fraction)
    """A sleeping agent that reports usage below this takes work again."""
    recycle: bool = True
    """Replace a pool's sleeping agents through the pool (False: they sleep and wake)."""
    max_recycling: float = attrs.field(default=0.25, validator=rate)
    """Share of a pool's agents recycled at once (at least one); the fullest go first."""
    drain_timeout: float = attrs.field(default=300.0, validator=non_negative)
    """How long a recycled agent may finish its tasks before they are re-queued."""

    # -- rebalancing --------------------------------------------------------------------------
    rebalance_margin: float = attrs.field(default=0.2, validator=fraction)
    """Sessions move from agents loaded above the mean + this to agents below mean - this."""
    rebalance_moves: int = attrs.field(default=3, validator=non_negative)
    """Sessions moved per tick at most (0 turns rebalancing off); only sessions whose last
    task was of low or medium priority move."""

    # -- persistence --------------------------------------------------------------------------
    save_interval: float = attrs.field(default=30.0, validator=positive)
    """How often learned profiles are written to the store (also at shutdown)."""

    def __attrs_post_init__(self) -> None:
        _check_thresholds(self)
