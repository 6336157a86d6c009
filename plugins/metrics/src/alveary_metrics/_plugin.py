"""The ``metrics`` plugin: Prometheus metrics of the orchestrator that runs it.

Each instance has a registry of its own, never prometheus_client's global one, so two
orchestrators in one process report apart. ``alveary_event`` feeds the tally; a scrape reads
the tally and the host. ``/metrics`` is served by the gateway when it is enabled (through
``gateway_pages``), and else on a loopback port of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import alveary
import structlog
from alveary.validators import is_unspecified, split_listen
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from . import _config
from ._alerts import Alerts
from ._anomaly import Watcher
from ._collect import Collector
from ._config import DEFAULT_LISTEN
from ._serve import Page, Server
from ._slo import HealthEndpoint, Slos
from ._tally import Tally

if TYPE_CHECKING:
    from ._traces import Tracer

log = structlog.get_logger("alveary.metrics")


def _tracer(config: _config.Traces) -> Tracer:
    """The tracer; OpenTelemetry is imported here, only when traces are enabled."""
    try:
        from ._traces import Tracer
    except ImportError as exc:
        raise alveary.AlvearyError(
            f"[plugins.metrics.traces] needs OpenTelemetry ({exc.name} is missing): "
            "pip install 'alveary-metrics[traces]'"
        ) from None
    return Tracer(config)


class Metrics:
    """Agents, tasks, queues, latencies, pools, plugin failures and events, for Prometheus."""

    Config = _config.Config

    def __init__(self, config: _config.Config | None = None) -> None:
        self.config = config or _config.Config()
        self.tally = Tally(self.config)
        self.registry = CollectorRegistry()
        """This plugin's registry: what ``/metrics`` shows."""
        self.alerts = Alerts(self.config.alerts, self.tally)
        """The alert rules and where each is: pending, firing, escalated."""
        self.watcher = Watcher(self.config.anomaly, self.config.alerts, self.alerts.measure)
        """The series sampled for anomalies and trends."""
        self.slos = Slos(self.config.slo, self.tally)
        """The service level objectives and the latest health summary."""
        self.registry.register(Collector(self.tally, self.alerts, self.slos))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.page = Page(self.registry)
        self.gateway_pages = {"/metrics": self.page}
        """The page the gateway serves for this plugin, when it is enabled."""
        self.health = HealthEndpoint(self.slos)
        self.gateway_api = [self.health] if self.slos.targets else []
        """``GET /v1/metrics/slo`` on the gateway, when there are objectives."""
        self.tracer: Tracer | None = None
        """The spans of each task, when ``[plugins.metrics.traces] enabled``."""
        self.event_types: frozenset[str] | None = self.tally.types
        """The events the kernel hands this plugin: the tally's, or all of them for traces."""
        if self.config.traces.enabled:
            self.tracer = _tracer(self.config.traces)
            self.event_types = None
        self.server: Server | None = None
        """The server of its own port, when it serves one."""

    @property
    def url(self) -> str:
        """Where its own server serves ``/metrics`` (the real port when ``listen`` asked for
        port 0)."""
        if self.server is None:
            raise alveary.AlvearyError("the metrics plugin serves no port of its own")
        host, port = self.server.address
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/metrics"

    def render(self, accept: str = "") -> bytes:
        """The metrics now, in the Prometheus text format (OpenMetrics if ``accept`` asks)."""
        return self.page.render(accept)[0]

    @alveary.hookimpl
    def alveary_check_config(
        self, config: alveary.Config, plugins: Mapping[str, object]
    ) -> list[str]:
        """A port of its own that is the gateway's too could never be bound at start."""
        listen = self.config.listen
        other = getattr(getattr(plugins.get("gateway"), "config", None), "listen", None)
        if listen is None or not isinstance(other, str):
            return []
        host, port = split_listen(listen)
        other_host, other_port = split_listen(other)
        same = host == other_host or is_unspecified(host) or is_unspecified(other_host)
        if port == 0 or port != other_port or not same:
            return []
        return [
            config.source.error(
                ("plugins", "metrics", "listen"),
                f"{listen} is the gateway's address too; leave listen out to serve /metrics "
                "on the gateway, or give the metrics another port",
            )
        ]

    @alveary.hookimpl
    def alveary_event(self, event: alveary.Event) -> None:
        on = self.tally.on.get(event.type)
        if on is not None:
            on(event)
        if self.tracer is not None:
            self.tracer.event(event)

    @alveary.hookimpl
    def alveary_tick(self, orchestrator: alveary.Host) -> None:
        self.alerts.tick(orchestrator)
        self.slos.tick(orchestrator)
        self.watcher.tick(orchestrator)

    @alveary.hookimpl
    async def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self.tally.host = self.health.host = orchestrator
        if self.tracer is not None:
            self.tracer.host = orchestrator
        listen = self.config.listen
        if listen is None:
            if "gateway" in orchestrator.plugins:
                return
            listen = DEFAULT_LISTEN
        host, port = split_listen(listen)
        try:
            self.server = await Server.start(host, port, self.page.render)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise alveary.StartFailed(f"metrics cannot listen on {listen}: {reason}") from None
        log.info("metrics listening", url=self.url)

    @alveary.hookimpl
    async def alveary_shutdown(self) -> None:
        if self.tracer is not None:
            self.tracer.shutdown()
        if self.server is not None:
            await self.server.close()
            self.server = None
