"""Verdicts: what heartbeats, checks, memory and attempts say of an agent, told to the kernel."""

from __future__ import annotations

import contextlib
from typing import Any

import alveary
from alveary import HealthStatus, NotFound

from ._breaker import BreakerState
from ._config import Config
from ._memory import MIB
from ._watch import Watch

_ALPHA = 0.1
"""Weight of the newest attempt in an agent's moving average of durations."""


class Judge:
    """Turns what the plugin sees of an agent into verdicts on its ``Watch``, moves its
    circuit breaker, and tells the kernel when the combined verdict changes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.host: alveary.Host | None = None
        """The orchestrator, from ``alveary_startup`` on: verdicts and events go to it."""
        self.open: dict[str, Watch] = {}
        """Agents whose breaker is open, by id: each tick sees if their cool-down is over."""
        self.half_open: dict[str, Watch] = {}
        """Agents whose breaker is half-open, by id: their next task is the probe."""

    def forget(self, agent_id: str) -> None:
        self.open.pop(agent_id, None)
        self.half_open.pop(agent_id, None)

    # -- heartbeats ----------------------------------------------------------------------------

    def heartbeat(self, watch: Watch, now: float, interval: float) -> None:
        agent = watch.agent
        if not watch.beats:
            if agent.heartbeat <= watch.first_beat:
                return  # never heartbeated: an in-process agent, judged by its work instead
            watch.beats = True
        age = now - agent.heartbeat
        ttl = self.config.stale_after * interval
        if age > ttl:
            watch.set(
                "heartbeat", HealthStatus.UNHEALTHY, f"no heartbeat for {age:.1f} s (ttl {ttl:g} s)"
            )
        else:
            watch.set("heartbeat", HealthStatus.HEALTHY)
        self.down(watch, now)
        self.apply(watch)

    def down(self, watch: Watch, now: float) -> None:
        """Fail an agent that has been down (no heartbeat, failing checks) for ``fail_after``."""
        why = watch.down()
        if why is None:
            watch.unhealthy_since = None
            return
        if watch.unhealthy_since is None:
            watch.unhealthy_since = now
        elif now - watch.unhealthy_since >= self.config.fail_after:
            watch.set(
                "dead",
                HealthStatus.FAILED,
                f"unhealthy for {now - watch.unhealthy_since:.1f} s: {why}",
            )

    # -- active checks -------------------------------------------------------------------------

    def report(self, watch: Watch, report: alveary.HealthReport) -> None:
        """Count a check's report: unhealthy after ``unhealthy_after`` bad checks in a row,
        healthy again after ``recover_after`` good ones."""
        config = self.config
        status = report.status
        reason = report.reason or status.name.lower()
        if report.source:
            reason = f"{report.source}: {reason}"
        if status is HealthStatus.FAILED:
            watch.set("checks", HealthStatus.FAILED, reason)
        elif status is HealthStatus.UNHEALTHY:
            watch.good_checks = 0
            watch.bad_checks += 1
            if watch.bad_checks >= config.unhealthy_after:
                watch.set("checks", HealthStatus.UNHEALTHY, f"{reason} ({watch.bad_checks} checks)")
            else:
                watch.set(
                    "checks",
                    HealthStatus.DEGRADED,
                    f"{reason} (check {watch.bad_checks} of {config.unhealthy_after})",
                )
        else:
            watch.bad_checks = 0
            if watch.get("checks") >= HealthStatus.UNHEALTHY:
                watch.good_checks += 1
                if watch.good_checks < config.recover_after:
                    watch.set(
                        "checks",
                        HealthStatus.UNHEALTHY,
                        f"recovering ({watch.good_checks} of {config.recover_after} good checks)",
                    )
                    self.emit(
                        "health.recovering",
                        watch,
                        {"good_checks": watch.good_checks, "needed": config.recover_after},
                    )
                    return
            watch.good_checks = 0
            watch.set("checks", status, reason)

    # -- memory --------------------------------------------------------------------------------

    def memory(self, watch: Watch, rss: float, now: float) -> bool:
        """Add a memory sample; degrade a leaking agent. True when it is to be recycled."""
        config = self.config
        watch.leak.add(now, rss, config.leak_window)
        found = watch.leak.leaks(config.leak_ratio, config.leak_min_growth)
        if found is None:
            if watch.leak.leaking:
                watch.leak.leaking = False
                watch.set("memory", HealthStatus.HEALTHY)
            return False
        if watch.leak.leaking:
            return False
        lowest, latest, factor = found
        span = now - watch.leak.samples[0][0]
        watch.leak.leaking = True
        watch.set(
            "memory",
            HealthStatus.DEGRADED,
            f"memory leak: resident memory grew {factor:.2f}x in {span:.0f} s "
            f"({lowest / MIB:.0f} MiB -> {latest / MIB:.0f} MiB)",
        )
        self.emit(
            "health.leak",
            watch,
            {"rss": latest, "lowest": lowest, "ratio": round(factor, 3), "span": round(span, 3)},
        )
        agent = watch.agent
        if config.recycle and agent.pool is not None and not watch.recycling:
            watch.recycling = True
            self.emit("health.recycle", watch, {"pool": agent.pool, "reason": "memory leak"})
            return True
        return False

    # -- attempts and circuit breakers --------------------------------------------------------

    def attempt(self, watch: Watch, task: alveary.Task, ok: bool, now: float) -> None:
        """Count an attempt's outcome: in the agent's breaker, and (``slow_after``) in its
        moving average of durations."""
        if self.config.slow_after:
            took = task.running_for or 0.0
            watch.duration = (
                took if watch.duration is None else (_ALPHA * took + (1 - _ALPHA) * watch.duration)
            )
        why = watch.breaker.record(ok, task.id, now)
        if why is not None:
            self.breaker_moved(watch, why)
            return
        self._tasks(watch)

    def _tasks(self, watch: Watch) -> None:
        config = self.config
        breaker = watch.breaker
        old = watch.verdicts.get("tasks")
        if breaker.judged and breaker.ratio > config.error_rate:
            watch.set(
                "tasks",
                HealthStatus.DEGRADED,
                f"{breaker.failures} of the last {len(breaker.outcomes)} attempts failed",
            )
        elif (
            config.slow_after and watch.duration is not None and watch.duration > config.slow_after
        ):
            watch.set(
                "tasks", HealthStatus.DEGRADED, f"attempts take {watch.duration:.1f} s on average"
            )
        else:
            watch.set("tasks", HealthStatus.HEALTHY)
        if watch.verdicts.get("tasks") != old:
            self.apply(watch)

    def breaker_moved(self, watch: Watch, why: str) -> None:
        """Follow the breaker's new state: out of routing while open, probing while half-open."""
        agent_id = watch.agent.id
        state = watch.breaker.state
        self.open.pop(agent_id, None)
        self.half_open.pop(agent_id, None)
        if state is BreakerState.OPEN:
            self.open[agent_id] = watch
            watch.set("breaker", HealthStatus.UNHEALTHY, f"circuit open: {why}")
        elif state is BreakerState.HALF_OPEN:
            self.half_open[agent_id] = watch
            watch.set("breaker", HealthStatus.DEGRADED, "circuit half-open: the next task probes")
        else:
            watch.set("breaker", HealthStatus.HEALTHY)
            watch.set("tasks", HealthStatus.HEALTHY)
        self.emit("health.breaker", watch, {"state": state.value, "reason": why})
        self.apply(watch)

    # -- telling -------------------------------------------------------------------------------

    def apply(self, watch: Watch) -> None:
        """Tell the kernel when the combined verdict differs from the agent's health."""
        status, reason = watch.verdict()
        agent = watch.agent
        if self.host is None or status is agent.health or agent.health is HealthStatus.FAILED:
            return
        with contextlib.suppress(NotFound):
            self.host.set_health(agent.id, status, reason)

    def emit(
        self, type: str, watch: Watch | None = None, data: dict[str, Any] | None = None
    ) -> None:
        if self.host is None:
            return
        agent_id = watch.agent.id if watch is not None else None
        try:
            self.host.emit(type, agent_id=agent_id, data=data)
        except NotFound:
            self.host.emit(type, data={"agent": agent_id, **(data or {})})
