"""alveary-metrics: Prometheus metrics of a running orchestrator (agents, tasks, queues,
latencies, pools, plugin failures, events), at ``/metrics`` on the gateway or a port of its
own."""

from __future__ import annotations

from ._config import Config
from ._plugin import Metrics
from ._serve import Page

__all__ = ["Config", "Metrics", "Page"]
