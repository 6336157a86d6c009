"""``[plugins.metrics]``: where ``/metrics`` is served, how many series it may hold, the
alert rules and the service level objectives."""

from __future__ import annotations

import math
from typing import Any

import attrs
from alveary import FieldError
from alveary.validators import count, is_loopback, name, split_listen

from ._anomaly import Watch
from ._rules import Rule
from ._slo import Objectives

DEFAULT_LISTEN = "127.0.0.1:9464"
"""Where ``/metrics`` is served when the gateway is not enabled (Prometheus' port for
exporters of this kind)."""

DURATIONS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
WAITS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)


def _listen(instance: Config, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise FieldError(attribute.name, f"expected 'host:port', got {value!r}")
    try:
        host, _ = split_listen(value)
    except ValueError as exc:
        raise FieldError(attribute.name, str(exc)) from None
    if not is_loopback(host) and not instance.allow_insecure:
        raise FieldError(
            attribute.name,
            f"{value} is not a loopback address and /metrics has no authentication there; "
            "serve it through the gateway (with a security plugin), or set "
            "[plugins.metrics] allow_insecure = true",
        )


def _buckets(instance: object, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
    numbers = all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) and b > 0
        for b in value
    )
    if not value or not numbers or list(value) != sorted(set(value)):
        raise FieldError(
            attribute.name, f"expected increasing finite numbers > 0, got {list(value)!r}"
        )


def _exporter(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("otlp", "none"):
        raise FieldError(attribute.name, f"expected 'otlp' or 'none', got {value!r}")


def _url(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise FieldError(attribute.name, f"expected an http:// or https:// URL, got {value!r}")


@attrs.frozen
class Traces:
    """``[plugins.metrics.traces]``: OpenTelemetry spans of each task and attempt (needs
    ``alveary-metrics[traces]``)."""

    enabled: bool = False
    exporter: str = attrs.field(default="otlp", validator=_exporter)
    """``otlp``: send the spans over OTLP/HTTP to ``endpoint``; ``none``: only to the span
    processors added to ``Metrics.tracer.provider``."""
    endpoint: str = attrs.field(default="http://127.0.0.1:4318/v1/traces", validator=_url)
    """Where the OTLP/HTTP exporter sends the spans."""
    service_name: str = attrs.field(default="alveary", validator=name)
    """The ``service.name`` of the spans' resource."""


@attrs.frozen
class Config:
    """What the metrics plugin serves and how many series it may make."""

    allow_insecure: bool = False
    """Let ``listen`` be a non-loopback address: anyone who reaches it reads the metrics."""
    listen: str | None = attrs.field(default=None, validator=_listen)
    """Serve ``/metrics`` on this ``host:port`` of its own (port 0: any free port). Unset:
    on ``127.0.0.1:9464`` when the gateway is not enabled, and only through the gateway
    when it is."""
    max_kinds: int = attrs.field(default=100, validator=count)
    """Task kinds with series of their own; later kinds are counted under ``other``."""
    max_agents: int = attrs.field(default=200, validator=count)
    """Agents with per-agent series (the first registered); the rest only in the totals."""
    max_event_types: int = attrs.field(default=200, validator=count)
    """Event types counted by name; later types are counted under ``other``."""
    duration_buckets: tuple[float, ...] = attrs.field(default=DURATIONS, validator=_buckets)
    """Upper bounds, in seconds, of the task duration histogram's buckets."""
    wait_buckets: tuple[float, ...] = attrs.field(default=WAITS, validator=_buckets)
    """Upper bounds, in seconds, of the queue wait histogram's buckets."""
    alerts: dict[str, Rule] = attrs.field(factory=dict)
    """``[plugins.metrics.alerts.<name>]``: alert rules by name, evaluated at each tick."""
    slo: Objectives = attrs.field(factory=Objectives)
    """``[plugins.metrics.slo]``: service level objectives; none set, none measured."""
    anomaly: Watch = attrs.field(factory=Watch)
    """``[plugins.metrics.anomaly]``: series sampled for anomalies and trends; none by
    default."""
    traces: Traces = attrs.field(factory=Traces)
    """``[plugins.metrics.traces]``: OpenTelemetry spans; off by default."""
