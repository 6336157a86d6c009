"""The ``health`` plugin: watches every agent and acts on what it sees.

It takes over the kernel's health sweep (``claim_health_checks``) and paces the work itself in
``alveary_tick``: heartbeats are judged and checks run at intervals that grow with the fleet,
so the work per second stays under ``max_heartbeats`` and ``max_checks``. Verdicts go to the
kernel with ``set_health``: unhealthy takes an agent out of routing, failed removes it and
re-queues its tasks; the kernel replaces a pool's agents, with a backoff after failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Sequence
from typing import Any

import alveary
from alveary import HealthStatus, NotFound, Outcome, TaskState

from . import _config
from ._breaker import BreakerState
from ._memory import MIB, ProcessMemory
from ._schedule import Wheel, paced_interval
from ._watch import Watch

_ALPHA = 0.1
"""Weight of the newest attempt in an agent's moving average of durations."""


class Health:
    """Heartbeats with an adaptive TTL, rate-capped active checks, per-agent circuit
    breakers, recovery of failed agents and a memory-leak watch."""

    Config = _config.Config

    def __init__(self, config: _config.Config) -> None:
        self.config = config
        self._orch: alveary.Host | None = None
        self._watches: dict[str, Watch] = {}
        self._beats = Wheel(config.max_heartbeats)
        self._checks = Wheel(config.max_checks)
        self._open: dict[str, Watch] = {}
        self._half_open: dict[str, Watch] = {}
        self._memory = ProcessMemory()
        self._background: set[asyncio.Future[Any]] = set()
        self._last_tick = time.time()
        self._announced = (0.0, 0.0)
        self.checks_run = 0
        """Active checks run so far (each is one ``alveary_health_check`` round on an agent)."""

    # -- what the plugin tells -----------------------------------------------------------------

    @property
    def heartbeat_interval(self) -> float:
        """How often agents should heartbeat now: runtimes pass it on to their agents."""
        return paced_interval(
            self.config.heartbeat_interval, len(self._watches), self.config.max_heartbeats
        )

    @property
    def check_interval(self) -> float:
        """How often each agent is checked now."""
        return paced_interval(
            self.config.check_interval, len(self._watches), self.config.max_checks
        )

    def report(self, agent_id: str) -> dict[str, Any]:
        """What the plugin knows of one agent: its verdict per source and its breaker."""
        watch = self._watches[agent_id]
        status, reason = watch.verdict()
        return {
            "status": status.name.lower(),
            "reason": reason,
            "sources": {s: (v.name.lower(), r) for s, (v, r) in watch.verdicts.items()},
            "breaker": watch.breaker.state.value,
            "failure_ratio": watch.breaker.ratio,
            "heartbeats": watch.beats,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Host) -> None:
        self._orch = orchestrator
        orchestrator.claim_health_checks("health")
        self._last_tick = time.time()
        for agent in orchestrator.agents():
            self.alveary_agent_registered(agent)

    @alveary.hookimpl
    async def alveary_shutdown(self) -> None:
        for future in list(self._background):
            future.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    @alveary.hookimpl
    def alveary_agent_registered(self, agent: alveary.Agent) -> None:
        if agent.id in self._watches:
            return
        self._watches[agent.id] = Watch(agent, self.config)
        self._beats.add(agent.id, time.time())
        self._checks.add(agent.id, 0.0)  # a first check as soon as the budget allows

    @alveary.hookimpl
    def alveary_agent_deregistered(self, agent: alveary.Agent) -> None:
        self._watches.pop(agent.id, None)
        self._open.pop(agent.id, None)
        self._half_open.pop(agent.id, None)
        self._memory.forget(agent.id)

    # -- pacing --------------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_tick(self, now: float) -> None:
        elapsed, self._last_tick = now - self._last_tick, now
        beat_every, check_every = self.heartbeat_interval, self.check_interval
        self._announce(beat_every, check_every)
        alive = self._watches.__contains__
        for agent_id in self._beats.due(now, elapsed, beat_every, alive):
            self._judge_heartbeat(self._watches[agent_id], now, beat_every)
        for watch in list(self._open.values()):
            if watch.breaker.poll(now):
                self._breaker_moved(watch, f"cool-down of {self.config.breaker_cooldown:g} s over")
        due = self._checks.due(now, elapsed, check_every, alive)
        if due:
            self._spawn(self._check(due))

    def _announce(self, beat_every: float, check_every: float) -> None:
        """Say when the intervals moved by more than 10% (runtimes listen to pass it on)."""
        old_beat, old_check = self._announced
        if (
            abs(beat_every - old_beat) <= 0.1 * old_beat
            and abs(check_every - old_check) <= 0.1 * old_check
        ):
            return
        self._announced = (beat_every, check_every)
        self._emit(
            "health.interval",
            data={
                "agents": len(self._watches),
                "heartbeat_interval": round(beat_every, 3),
                "ttl": round(beat_every * self.config.stale_after, 3),
                "check_interval": round(check_every, 3),
            },
        )

    # -- heartbeats ----------------------------------------------------------------------------

    def _judge_heartbeat(self, watch: Watch, now: float, interval: float) -> None:
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
        self._judge_down(watch, now)
        self._apply(watch)

    def _judge_down(self, watch: Watch, now: float) -> None:
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

    async def _check(self, agent_ids: Sequence[str]) -> None:
        await asyncio.gather(*(self._check_one(agent_id) for agent_id in agent_ids))

    async def _check_one(self, agent_id: str) -> None:
        orch = self._orch
        if orch is None or agent_id not in self._watches:
            return
        try:
            report = await orch.check_health(agent_id)
        except NotFound:
            return
        watch = self._watches.get(agent_id)
        if watch is None:
            return
        self.checks_run += 1
        now = time.time()
        if report is not None:
            self._judge_report(watch, report)
        rss = self._memory.rss(watch.agent, orch.runtimes.get(watch.agent.spec.runtime))
        if rss is not None:
            self._judge_memory(watch, rss, now)
        self._judge_down(watch, now)
        self._apply(watch)

    def _judge_report(self, watch: Watch, report: alveary.HealthReport) -> None:
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
                    self._emit(
                        "health.recovering",
                        watch,
                        {"good_checks": watch.good_checks, "needed": config.recover_after},
                    )
                    return
            watch.good_checks = 0
            watch.set("checks", status, reason)

    # -- memory --------------------------------------------------------------------------------

    def _judge_memory(self, watch: Watch, rss: float, now: float) -> None:
        config = self.config
        watch.leak.add(now, rss, config.leak_window)
        found = watch.leak.leaks(config.leak_ratio, config.leak_min_growth)
        if found is None:
            if watch.leak.leaking:
                watch.leak.leaking = False
                watch.set("memory", HealthStatus.HEALTHY)
            return
        if watch.leak.leaking:
            return
        lowest, latest, factor = found
        span = now - watch.leak.samples[0][0]
        watch.leak.leaking = True
        watch.set(
            "memory",
            HealthStatus.DEGRADED,
            f"memory leak: resident memory grew {factor:.2f}x in {span:.0f} s "
            f"({lowest / MIB:.0f} MiB -> {latest / MIB:.0f} MiB)",
        )
        self._emit(
            "health.leak",
            watch,
            {"rss": latest, "lowest": lowest, "ratio": round(factor, 3), "span": round(span, 3)},
        )
        agent = watch.agent
        if config.recycle and agent.pool is not None and not watch.recycling:
            watch.recycling = True
            self._emit("health.recycle", watch, {"pool": agent.pool, "reason": "memory leak"})
            self._spawn(self._recycle(agent.id))

    async def _recycle(self, agent_id: str) -> None:
        """Drain the agent (no new work, its tasks finish) and remove it; its pool replaces it."""
        if self._orch is None:
            return
        with contextlib.suppress(NotFound):
            await self._orch.deregister(agent_id, drain=True)

    # -- task outcomes and circuit breakers ----------------------------------------------------

    @alveary.hookimpl
    def alveary_task_before(self, task: alveary.Task, agent: alveary.Agent) -> None:
        if not self._half_open:
            return
        watch = self._half_open.get(agent.id)
        if watch is not None and watch.breaker.probe is None:
            watch.breaker.probe = task.id

    @alveary.hookimpl
    def alveary_task_after(
        self, task: alveary.Task, agent: alveary.Agent, outcome: Outcome
    ) -> None:
        watch = self._watches.get(agent.id)
        if watch is None or (outcome.state is TaskState.FAILED and not outcome.retry):
            return  # a permanent failure is the task's fault, not the agent's
        now = time.time()
        config = self.config
        if config.slow_after:
            took = task.running_for or 0.0
            watch.duration = (
                took if watch.duration is None else (_ALPHA * took + (1 - _ALPHA) * watch.duration)
            )
        why = watch.breaker.record(outcome.ok, task.id, now)
        if why is not None:
            self._breaker_moved(watch, why)
            return
        self._judge_tasks(watch)

    def _judge_tasks(self, watch: Watch) -> None:
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
            self._apply(watch)

    def _breaker_moved(self, watch: Watch, why: str) -> None:
        agent_id = watch.agent.id
        state = watch.breaker.state
        self._open.pop(agent_id, None)
        self._half_open.pop(agent_id, None)
        if state is BreakerState.OPEN:
            self._open[agent_id] = watch
            watch.set("breaker", HealthStatus.UNHEALTHY, f"circuit open: {why}")
        elif state is BreakerState.HALF_OPEN:
            self._half_open[agent_id] = watch
            watch.set("breaker", HealthStatus.DEGRADED, "circuit half-open: the next task probes")
        else:
            watch.set("breaker", HealthStatus.HEALTHY)
            watch.set("tasks", HealthStatus.HEALTHY)
        self._emit("health.breaker", watch, {"state": state.value, "reason": why})
        self._apply(watch)

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        """Keep a half-open agent out while its probe runs. O(1) when no breaker is
        half-open; O(candidates) only while such an agent is among them."""
        if not self._half_open:
            return None
        probing = {
            w.agent.id
            for w in self._half_open.values()
            if w.agent.in_flight and w.agent in candidates
        }
        if not probing:
            return None
        return [a for a in candidates if a.id not in probing]

    # -- helpers -------------------------------------------------------------------------------

    def _apply(self, watch: Watch) -> None:
        """Tell the kernel when the combined verdict differs from the agent's health."""
        status, reason = watch.verdict()
        agent = watch.agent
        if self._orch is None or status is agent.health or agent.health is HealthStatus.FAILED:
            return
        with contextlib.suppress(NotFound):
            self._orch.set_health(agent.id, status, reason)

    def _emit(
        self, type: str, watch: Watch | None = None, data: dict[str, Any] | None = None
    ) -> None:
        if self._orch is None:
            return
        agent_id = watch.agent.id if watch is not None else None
        try:
            self._orch.emit(type, agent_id=agent_id, data=data)
        except NotFound:
            self._orch.emit(type, data={"agent": agent_id, **(data or {})})

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)
