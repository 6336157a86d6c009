"""``[plugins.autoscale]``: a policy per pool, as data. Rules name metrics and compare them
with thresholds; nothing is ever evaluated as code."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import fraction, non_negative, positive

METRICS: dict[str, str] = {
    "agents": "agents in the pool",
    "ready": "agents with a free slot",
    "busy": "agents with every slot taken",
    "idle": "ready agents with nothing in flight",
    "in_flight": "tasks running on the pool's agents",
    "capacity": "slots of the pool's agents",
    "slots": "slots of one agent of the pool (its capacity)",
    "queued": "tasks waiting that the pool's agents could take",
    "in_flight_avg": "moving average of in_flight (see smoothing)",
    "queued_avg": "moving average of queued (see smoothing)",
    "utilisation": "in_flight / capacity (0 with no agents)",
    "queue_wait": "seconds the oldest of those queued tasks has waited",
    "duration": "moving average of the pool's attempt durations, seconds",
    "duration_p95": "95th percentile of the pool's last 100 attempt durations, seconds",
    "error_rate": "failed share of the pool's last 100 attempts",
    "memory": "host memory in use, as a fraction (absent when unknown)",
}
"""The metrics a rule may name, and what each means."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


MOST = 2**31
"""No proposal is larger: it keeps the arithmetic on hostile numbers finite."""


def agents_for(value: float) -> int:
    """The agents ``value`` asks for, rounded up (allowing for float error), in [0, MOST]."""
    return math.ceil(min(max(value, 0.0), MOST) - 1e-9)


def _finite(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not math.isfinite(value):
        raise FieldError(attribute.name, f"expected a finite number, got {value!r}")


def _one_of(choices: Any) -> Callable[[object, attrs.Attribute[Any], str], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in choices:
            raise ValueError(
                f"{attribute.name}: {value!r} is not one of {', '.join(map(str, choices))}"
            )

    return check


def _some(instance: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
    if not value:
        raise ValueError(f"{attribute.name}: expected at least one condition")


def _below_up(instance: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value >= instance.scale_up_above:
        raise ValueError(
            f"{attribute.name}: expected less than scale_up_above "
            f"({instance.scale_up_above:g}), got {value!r}"
        )


@attrs.frozen
class Condition:
    """``metric op value``, for example ``{ metric = "error_rate", op = ">", value = 0.15 }``."""

    metric: str = attrs.field(validator=_one_of(METRICS))
    op: str = attrs.field(validator=_one_of(OPERATORS))
    value: float = attrs.field(validator=_finite)

    def holds(self, metrics: dict[str, float]) -> bool:
        """True when the metric is known and compares as asked."""
        found = metrics.get(self.metric)
        return found is not None and OPERATORS[self.op](found, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@attrs.frozen
class Rule:
    """When every condition holds, propose a size: ``up`` to at least ``size + by`` and
    ``size * factor``, ``down`` to at most ``size - by`` and ``size * factor``."""

    name: str
    when: tuple[Condition, ...] = attrs.field(validator=_some)
    action: str = attrs.field(validator=_one_of(("up", "down")))
    by: int = attrs.field(default=1, validator=non_negative)
    factor: float = attrs.field(default=1.0, validator=[_finite, non_negative])

    def matches(self, metrics: dict[str, float]) -> bool:
        return all(c.holds(metrics) for c in self.when)

    def propose(self, size: int) -> int:
        if self.action == "up":
            return max(size + self.by, agents_for(size * self.factor))
        return max(0, min(size - self.by, math.floor(min(size * self.factor, MOST))))


@attrs.frozen
class Policy:
    """How one pool is scaled. Every signal proposes a size, once from the raw queue for a
    scale-up and once from the moving averages for a scale-down; the pool grows to the
    largest proposal above its size, and shrinks only when every signal proposes less, to
    the largest of those. Cool-downs, hysteresis and step caps then pace the change."""

    target_duration: float = attrs.field(default=5.0, validator=[_finite, non_negative])
    """Work signal (Dask's adaptive): enough slots for the tasks in flight plus the queued
    ones done within this many seconds, at the pool's average duration. 0 turns it off."""
    default_duration: float = attrs.field(default=1.0, validator=[_finite, non_negative])
    """The duration assumed for a task until the pool has finished some."""
    scale_up_above: float = attrs.field(default=0.75, validator=fraction)
    """Utilisation band: above this, grow until utilisation is back mid-band."""
    scale_down_below: float = attrs.field(default=0.3, validator=[fraction, _below_up])
    """Utilisation band: below this, shrink until utilisation is back mid-band."""
    smoothing: float = attrs.field(default=10.0, validator=[_finite, non_negative])
    """Time constant, in seconds, of the moving averages of ``in_flight`` and ``queued`` that a
    scale-down reads, so one quiet tick does not shrink the pool; no scale-down is proposed
    before they have been fed this long. 0: raw."""
    max_queue_wait: float = attrs.field(default=30.0, validator=[_finite, non_negative])
    """Grow when the oldest queued task has waited longer than this. 0 turns it off."""
    up_cooldown: float = attrs.field(default=5.0, validator=[_finite, non_negative])
    """Seconds between two scale-up decisions; the steps towards one follow at each tick."""
    down_cooldown: float = attrs.field(default=120.0, validator=[_finite, non_negative])
    """Seconds after any change before a scale-down."""
    down_confirm: int = attrs.field(default=3, validator=positive)
    """Ticks in a row a scale-down must be proposed before it happens (hysteresis)."""
    max_change_percent: float = attrs.field(default=50.0, validator=[_finite, non_negative])
    """A step down changes the size by at most this percent of it (and at least one agent);
    a step up may double it, or grow it by this percent if that is more."""
    max_up: int = attrs.field(default=5, validator=positive)
    """Agents started per step at most: scale-up comes in batches."""
    max_down: int = attrs.field(default=3, validator=positive)
    """Agents removed per step at most."""
    shed_above: float = attrs.field(default=0.95, validator=fraction)
    """Host memory in use above this fraction sheds idle agents at once (1 turns it off)."""
    shed_percent: float = attrs.field(default=25.0, validator=[_finite, non_negative])
    """Share of the pool shed per step under memory pressure, idle agents only."""
    rules: tuple[Rule, ...] = ()
    """Extra rules, checked in order; each matching one proposes a size."""


@attrs.frozen
class Config:
    """Policies by pool name; pools without one use the default ``Policy()``."""

    pools: dict[str, Policy] = attrs.field(factory=dict)
    """``[plugins.autoscale.pools.<pool>]``: a pool's policy. Keys left out take the
    defaults of ``Policy``."""
    scale_all: bool = True
    """Scale pools that have no policy here with the default one; false leaves them alone."""
