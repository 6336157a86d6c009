"""The collector: metric families made at scrape time, from the tally and from the host.

What the orchestrator knows at any moment (agents, pools, queue, counts by state, events by
type, plugin failures) is read from ``Host`` when Prometheus asks, so it costs nothing between
scrapes; what only events tell (tasks by kind, durations, retries) comes from the tally.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping

from alveary import Host, Priority
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ._alerts import Alerts
from ._slo import Slos
from ._tally import OTHER, Histogram, Tally, queues

NO_POOL = ""
"""The ``pool`` label of agents registered outside any pool."""

INF = float("inf")
_PRIORITIES = {p.value: p.name.lower() for p in Priority}


class Collector:
    """Yields every ``alveary_*`` family; registered in the plugin's own registry."""

    def __init__(self, tally: Tally, alerts: Alerts, slos: Slos) -> None:
        self._tally = tally
        self._alerts = alerts
        self._slos = slos

    def collect(self) -> Iterator[Metric]:
        yield from self._tasks()
        yield from self._queue()
        yield from self._firing()
        yield from self._health()
        host = self._tally.host
        if host is not None:
            yield from self._kernel(host)
            yield from self._agents(host)
            yield from self._pools(host)
            yield from self._breakers(host)
            yield from self._store(host)

    # -- from the tally --------------------------------------------------------------------------

    def _tasks(self) -> Iterator[Metric]:
        tally = self._tally
        submitted = CounterMetricFamily(
            "alveary_tasks_submitted", "Tasks submitted, by kind.", labels=["kind"]
        )
        finished = CounterMetricFamily(
            "alveary_tasks_finished",
            "Tasks that reached a final state, by kind and state.",
            labels=["kind", "state"],
        )
        retried = CounterMetricFamily(
            "alveary_task_retries", "Failed attempts retried, by kind.", labels=["kind"]
        )
        timed_out = CounterMetricFamily(
            "alveary_task_timeouts", "Attempts that ran out of time, by kind.", labels=["kind"]
        )
        duration = HistogramMetricFamily(
            "alveary_task_duration_seconds",
            "Seconds from submission to the final state, by kind.",
            labels=["kind"],
        )
        wait = HistogramMetricFamily(
            "alveary_task_queue_wait_seconds",
            "Seconds each attempt waited in the queue for an agent, by kind.",
            labels=["kind"],
        )
        for name, kind in list(tally.kinds.items()):
            submitted.add_metric([name], kind.submitted)
            for state, n in kind.finished.items():
                finished.add_metric([name, state], n)
            retried.add_metric([name], kind.retried)
            timed_out.add_metric([name], kind.timed_out)
            _observed(duration, name, kind.duration)
            _observed(wait, name, kind.wait)
        scaled = CounterMetricFamily(
            "alveary_pool_scaled",
            "Scaling decisions that changed a pool's desired size, by direction and deciding "
            "plugin.",
            labels=["pool", "direction", "by"],
        )
        for (pool, direction, by), n in list(tally.scaled.items()):
            scaled.add_metric([pool, direction, by], n)
        yield from (submitted, finished, retried, timed_out, duration, wait, scaled)

    def _queue(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "alveary_queue_depth", "Tasks waiting for an agent, by priority.", labels=["priority"]
        )
        oldest = GaugeMetricFamily(
            "alveary_queue_oldest_wait_seconds",
            "Seconds the longest-waiting queued task has waited, by priority (0 with none).",
            labels=["priority"],
        )
        host = self._tally.host
        now = host.now() if host is not None else 0.0
        waiting = queues(host)
        for value, name in _PRIORITIES.items():
            count, since = waiting.get(value, (0, now))
            depth.add_metric([name], count)
            oldest.add_metric([name], max(0.0, now - since))
        yield from (depth, oldest)

    def _firing(self) -> Iterator[Metric]:
        firing = GaugeMetricFamily(
            "alveary_alert_firing",
            "1 for each alert rule firing now, 0 for the others.",
            labels=["rule"],
        )
        for name, state in self._alerts.states.items():
            firing.add_metric([name], 1.0 if state.firing else 0.0)
        yield firing

    def _health(self) -> Iterator[Metric]:
        health = self._slos.health
        if health is None:
            return
        labels = ["objective"]
        value = GaugeMetricFamily(
            "alveary_slo_value", "Each objective as measured in its window.", labels=labels
        )
        target = GaugeMetricFamily("alveary_slo_target", "Each objective's target.", labels=labels)
        burn = GaugeMetricFamily(
            "alveary_slo_burn_rate",
            "Share of each objective's allowance used (above 1: missed).",
            labels=labels,
        )
        for objective in health.objectives:
            target.add_metric([objective.name], objective.target)
            if objective.value is not None and objective.burn is not None:
                value.add_metric([objective.name], objective.value)
                burn.add_metric([objective.name], objective.burn)
        yield from (value, target, burn)
        yield GaugeMetricFamily(
            "alveary_health_score",
            "The objectives' summary: healthy >= 0.9, degraded >= 0.6, unhealthy >= 0.3.",
            value=health.score,
        )

    # -- from the host ---------------------------------------------------------------------------

    def _kernel(self, host: Host) -> Iterator[Metric]:
        snapshot = host.metrics()
        tasks = GaugeMetricFamily(
            "alveary_tasks", "Unfinished tasks by state, now.", labels=["state"]
        )
        for state in ("pending", "queued", "assigned", "running"):
            tasks.add_metric([state], snapshot.tasks.get(state, 0))
        failures = CounterMetricFamily(
            "alveary_plugin_failures",
            "Hook calls of a plugin that raised, overran or answered wrongly.",
            labels=["plugin"],
        )
        for plugin, n in sorted(snapshot.plugin_failures.items()):
            failures.add_metric([plugin], n)
        disabled = GaugeMetricFamily(
            "alveary_plugin_disabled",
            "1 for each plugin disabled after failing too often.",
            labels=["plugin"],
        )
        for plugin in snapshot.disabled_plugins:
            disabled.add_metric([plugin], 1)
        events = CounterMetricFamily(
            "alveary_events", "Events the orchestrator emitted, by type.", labels=["type"]
        )
        for type_, n in _bounded(snapshot.events, self._tally.config.max_event_types):
            events.add_metric([type_], n)
        yield from (tasks, failures, disabled, events)
        yield GaugeMetricFamily(
            "alveary_in_flight", "Attempts running now.", value=snapshot.in_flight
        )
        yield GaugeMetricFamily(
            "alveary_uptime_seconds", "Seconds since the orchestrator started.", snapshot.uptime
        )

    def _agents(self, host: Host) -> Iterator[Metric]:
        by_state = GaugeMetricFamily(
            "alveary_agents", "Agents by pool and state.", labels=["pool", "state"]
        )
        by_health = GaugeMetricFamily(
            "alveary_agents_by_health", "Agents by pool and health.", labels=["pool", "health"]
        )
        in_flight = GaugeMetricFamily(
            "alveary_agent_in_flight",
            f"Tasks in flight per agent (the first {self._tally.config.max_agents} registered).",
            labels=["agent", "pool"],
        )
        capacity = GaugeMetricFamily(
            "alveary_agent_capacity",
            "Slots per agent (the same agents as alveary_agent_in_flight).",
            labels=["agent", "pool"],
        )
        states: Counter[tuple[str, str]] = Counter()
        healths: Counter[tuple[str, str]] = Counter()
        room = self._tally.config.max_agents
        for agent in host.agents():
            pool = agent.pool or NO_POOL
            states[pool, agent.state.value] += 1
            healths[pool, agent.health.name.lower()] += 1
            if room > 0:
                room -= 1
                in_flight.add_metric([agent.name, pool], agent.in_flight)
                capacity.add_metric([agent.name, pool], agent.spec.capacity)
        for (pool, state), n in sorted(states.items()):
            by_state.add_metric([pool, state], n)
        for (pool, health), n in sorted(healths.items()):
            by_health.add_metric([pool, health], n)
        yield from (by_state, by_health, in_flight, capacity)

    def _pools(self, host: Host) -> Iterator[Metric]:
        labels = ["pool"]
        desired = GaugeMetricFamily("alveary_pool_desired", "Agents a pool aims at.", labels=labels)
        low = GaugeMetricFamily("alveary_pool_min", "A pool's minimum size.", labels=labels)
        high = GaugeMetricFamily(
            "alveary_pool_max", "A pool's maximum size (absent when unbounded).", labels=labels
        )
        agents = GaugeMetricFamily("alveary_pool_agents", "Agents in a pool now.", labels=labels)
        queued = GaugeMetricFamily(
            "alveary_pool_queued", "Queued tasks a pool's agents could take.", labels=labels
        )
        oldest = GaugeMetricFamily(
            "alveary_pool_oldest_wait_seconds",
            "Seconds the longest-waiting of those tasks has waited.",
            labels=labels,
        )
        for name, pool in host.pools.items():
            seen = host.pool_metrics(name)
            desired.add_metric([name], pool.desired)
            low.add_metric([name], pool.size.min)
            if pool.size.max is not None:
                high.add_metric([name], pool.size.max)
            agents.add_metric([name], seen.agents)
            queued.add_metric([name], seen.queued)
            oldest.add_metric([name], seen.oldest_wait)
        yield from (desired, low, high, agents, queued, oldest)

    def _breakers(self, host: Host) -> Iterator[Metric]:
        """Agents whose breaker (health plugin) is not closed; those gone are forgotten."""
        breakers, alive = self._tally.breakers, {agent.id for agent in host.agents()}
        for agent in [a for a in breakers if a not in alive]:
            del breakers[agent]
        family = GaugeMetricFamily(
            "alveary_breakers",
            "Agents whose circuit breaker (health plugin) is open or half-open, now.",
            labels=["state"],
        )
        for state in ("open", "half-open"):
            family.add_metric([state], sum(1 for s in breakers.values() if s == state))
        yield family

    def _store(self, host: Host) -> Iterator[Metric]:
        """How long the durable store's batch writes took, if it says (``write_latency``)."""
        latency = getattr(host.store, "write_latency", None)
        if latency is None:
            return
        family = HistogramMetricFamily(
            "alveary_store_write_seconds",
            "Seconds each batch write of the durable store took (one batch: many saves).",
        )
        try:
            _observed(family, None, latency)
        except (AttributeError, TypeError, ValueError):  # not the shape documented: left out
            return
        yield family


def _observed(family: HistogramMetricFamily, kind: str | None, histogram: Histogram) -> None:
    """Add one kind's histogram: cumulative bucket counts, as Prometheus wants them."""
    buckets, total = [], 0
    for bound, n in zip((*histogram.bounds, INF), histogram.counts, strict=True):
        total += n
        buckets.append(("+Inf" if bound == INF else repr(float(bound)), float(total)))
    family.add_metric([] if kind is None else [kind], buckets, histogram.sum)


def _bounded(counts: Mapping[str, int], limit: int) -> list[tuple[str, int]]:
    """The first ``limit`` types emitted, with their counts; the rest summed as ``other``."""
    kept: dict[str, int] = {}
    for type_, n in counts.items():
        key = type_ if len(kept) < limit or type_ in kept else OTHER
        kept[key] = kept.get(key, 0) + n
    return list(kept.items())
