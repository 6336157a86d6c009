"""``[plugins.metrics.alerts.<name>]``: alert rules as data. A rule names a metric, compares
it with a threshold, and says how long it must hold, how long to stay quiet after firing, and
when a rule still firing escalates. Nothing is ever evaluated as code."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import non_negative, positive

METRICS: dict[str, str] = {
    "latency_p95": "95th percentile, in seconds, of submission-to-end times of the tasks "
    "that ended in the window",
    "error_rate": "failed share (failed or dead) of the tasks that ended in the window, "
    "cancelled ones left out",
    "failed_per_hour": "tasks failed or dead in the window, per hour",
    "ready_agents": "agents ready now (a free slot) with the rule's capability",
    "queue_depth": "tasks waiting for an agent now",
    "queue_wait": "seconds the longest-waiting queued task has waited (0 with none)",
    "memory_rss": "resident memory of the orchestrator's process, bytes",
    "auth_failures": "callers refused as not authenticated (security.denied) in the window",
}
"""The metrics a rule may name, and what each means."""

BY_KIND = ("latency_p95", "error_rate", "failed_per_hour")
"""The metrics a rule may narrow to one task kind."""

WINDOWED = (*BY_KIND, "auth_failures")
"""The metrics counted over the rule's ``window``."""

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _metric(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in METRICS:
        raise FieldError(
            attribute.name, f"unknown metric {value!r}; expected one of {', '.join(METRICS)}"
        )


def _op(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in OPERATORS:
        raise FieldError(attribute.name, f"expected one of {', '.join(OPERATORS)}, got {value!r}")


def _finite(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(attribute.name, f"expected a finite number, got {value!r}")


def _kind(instance: Rule, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and instance.metric not in BY_KIND:
        raise FieldError(
            attribute.name,
            f"only {', '.join(BY_KIND)} are counted by kind, not {instance.metric}",
        )


def _capability(instance: Rule, attribute: attrs.Attribute[Any], value: str | None) -> None:
    wanted = instance.metric == "ready_agents"
    if wanted and (value is None or not value.strip()):
        raise FieldError(attribute.name, "ready_agents needs the capability the agents must have")
    if not wanted and value is not None:
        raise FieldError(
            attribute.name, f"only ready_agents takes a capability, not {instance.metric}"
        )


@attrs.frozen
class Rule:
    """``metric op threshold``, held ``for_seconds``, for example
    ``{ metric = "error_rate", op = ">", threshold = 0.2, for_seconds = 120 }``."""

    metric: str = attrs.field(validator=_metric)
    threshold: float = attrs.field(validator=_finite)
    op: str = attrs.field(default=">", validator=_op)
    kind: str | None = attrs.field(default=None, validator=_kind)
    """Only tasks of this kind (the latency, error and failure metrics); unset: every kind."""
    capability: str | None = attrs.field(default=None, validator=_capability)
    """The capability ``ready_agents`` counts agents with."""
    window: float = attrs.field(default=300.0, validator=positive)
    """Seconds back the windowed metrics look (latency, errors, failures, auth failures)."""
    for_seconds: float = attrs.field(default=0.0, validator=non_negative)
    """Seconds the comparison must hold before the alert fires (Prometheus' ``for``)."""
    cooldown: float = attrs.field(default=600.0, validator=non_negative)
    """Seconds after a firing in which the rule does not fire again."""
    escalate_after: float = attrs.field(default=1800.0, validator=non_negative)
    """Seconds of firing after which it escalates, once; 0: never."""

    def holds(self, value: float | None) -> bool:
        """True when the metric is known and compares as asked."""
        return value is not None and OPERATORS[self.op](value, self.threshold)
