"""``[plugins.metrics.anomaly]``: series sampled every ``period`` seconds at the tick, with
two warnings on each new sample.

- ``metrics.anomaly`` when it is beyond the mean plus ``sigmas`` standard deviations of the
  samples before it (the last ``samples``);
- ``metrics.trend`` when the least-squares line through the samples, projected ``ahead``
  periods, crosses the threshold of an alert rule on the same metric that does not hold yet
  (once, until the projection no longer crosses it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs
from alveary import FieldError, Host
from alveary.validators import count, positive

from ._alerts import Measure
from ._rules import METRICS, Rule

SERIES = tuple(m for m in METRICS if m != "ready_agents")
"""What may be sampled: every metric of the alert rules that needs no capability."""
LEAST = 10
"""Samples needed before either warning is given."""


def _series(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for name in value:
        if name not in SERIES:
            raise FieldError(
                attribute.name, f"unknown series {name!r}; expected some of {', '.join(SERIES)}"
            )


def _samples(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    count(instance, attribute, value)
    if value < LEAST:
        raise FieldError(attribute.name, f"expected an integer >= {LEAST}, got {value!r}")


@attrs.frozen
class Watch:
    """Which series to sample, how often, and how far to look."""

    series: tuple[str, ...] = attrs.field(default=(), validator=_series)
    """The metrics to sample (a windowed one over the last ``period``)."""
    period: float = attrs.field(default=60.0, validator=positive)
    """Seconds between two samples."""
    samples: int = attrs.field(default=50, validator=_samples)
    """Samples kept: the mean, deviation and trend are of these."""
    sigmas: float = attrs.field(default=3.0, validator=positive)
    """Standard deviations above the mean that make a sample an anomaly."""
    ahead: int = attrs.field(default=3, validator=count)
    """Periods the trend is projected ahead."""


def fit(values: list[float]) -> tuple[float, float]:
    """The least-squares line through ``(i, values[i])``: its slope and its intercept."""
    n = len(values)
    mean_x, mean_y = (n - 1) / 2, sum(values) / n
    spread = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(values)) / spread
    return slope, mean_y - slope * mean_x


class Watcher:
    """Samples the series at the tick and emits the warnings."""

    def __init__(self, watch: Watch, rules: Mapping[str, Rule], measure: Measure) -> None:
        self.watch = watch
        self.history = {name: deque[float](maxlen=watch.samples) for name in watch.series}
        self._measure = measure
        self._rules = {
            name: Rule(name, 0.0, window=watch.period) for name in watch.series
        }  # what to measure: a windowed series over one period
        self._limits = {
            name: [
                (rule_name, r)
                for rule_name, r in rules.items()
                if r.metric == name and r.kind is None
            ]
            for name in watch.series
        }
        self._warned: set[tuple[str, str]] = set()
        self._last: float | None = None

    def tick(self, host: Host) -> None:
        """Take a sample of each series when ``period`` has passed since the last."""
        if not self.history:
            return
        now = host.now()
        if self._last is not None and now - self._last < self.watch.period:
            return
        self._last = now
        for name, history in self.history.items():
            value = self._measure(self._rules[name], host, now)
            if value is None:
                continue
            if len(history) >= LEAST:
                self._anomaly(host, name, list(history), value)
            history.append(value)
            if len(history) >= LEAST:
                self._trend(host, name, list(history))

    def _anomaly(self, host: Host, name: str, before: list[float], value: float) -> None:
        mean = sum(before) / len(before)
        deviation = math.sqrt(sum((v - mean) ** 2 for v in before) / len(before))
        bound = mean + self.watch.sigmas * deviation
        if deviation > 0 and value > bound:
            data = {"series": name, "value": value, "mean": mean, "stddev": deviation}
            data |= {"sigmas": self.watch.sigmas, "bound": bound, "samples": len(before)}
            host.emit("metrics.anomaly", data=data)

    def _trend(self, host: Host, name: str, values: list[float]) -> None:
        slope, intercept = fit(values)
        ahead = self.watch.ahead
        projected = intercept + slope * (len(values) - 1 + ahead)
        value = values[-1]
        for rule_name, rule in self._limits[name]:
            key = (name, rule_name)
            if not rule.holds(projected) or rule.holds(value):
                self._warned.discard(key)
                continue
            if key in self._warned:
                continue
            self._warned.add(key)
            data: dict[str, Any] = {"series": name, "value": value, "projected": projected}
            data |= {"slope": slope / self.watch.period, "ahead": ahead * self.watch.period}
            data |= {"rule": rule_name, "op": rule.op, "threshold": rule.threshold}
            host.emit("metrics.trend", data=data)
