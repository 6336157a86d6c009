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
from alveary import NotFound, Outcome, TaskState

from . import _config
from ._judge import Judge
from ._memory import ProcessMemory
from ._schedule import Wheel, paced_interval
from ._watch import Watch


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
        self._judge = Judge(config)
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
        self._orch = self._judge.host = orchestrator
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
        self._judge.forget(agent.id)
        self._memory.forget(agent.id)

    # -- pacing --------------------------------------------------------------------------------

    @alveary.hookimpl
    def alveary_tick(self, now: float) -> None:
        elapsed, self._last_tick = now - self._last_tick, now
        beat_every, check_every = self.heartbeat_interval, self.check_interval
        self._announce(beat_every, check_every)
        alive = self._watches.__contains__
        for agent_id in self._beats.due(now, elapsed, beat_every, alive):
            self._judge.heartbeat(self._watches[agent_id], now, beat_every)
        for watch in list(self._judge.open.values()):
            if watch.breaker.poll(now):
                self._judge.breaker_moved(
                    watch, f"cool-down of {self.config.breaker_cooldown:g} s over"
                )
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
        self._judge.emit(
            "health.interval",
            data={
                "agents": len(self._watches),
                "heartbeat_interval": round(beat_every, 3),
                "ttl": round(beat_every * self.config.stale_after, 3),
                "check_interval": round(check_every, 3),
            },
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
            self._judge.report(watch, report)
        rss = self._memory.rss(watch.agent, orch.runtimes.get(watch.agent.spec.runtime))
        if rss is not None and self._judge.memory(watch, rss, now):
            self._spawn(self._recycle(agent_id))
        self._judge.down(watch, now)
        self._judge.apply(watch)

    async def _recycle(self, agent_id: str) -> None:
        """Drain the agent (no new work, its tasks finish) and remove it; its pool replaces it."""
        if self._orch is None:
            return
        with contextlib.suppress(NotFound):
            await self._orch.deregister(agent_id, drain=True)

    # -- task outcomes and circuit breakers ----------------------------------------------------

    @alveary.hookimpl
    def alveary_task_before(self, task: alveary.Task, agent: alveary.Agent) -> None:
        if not self._judge.half_open:
            return
        watch = self._judge.half_open.get(agent.id)
        if watch is not None and watch.breaker.probe is None:
            watch.breaker.probe = task.id

    @alveary.hookimpl
    def alveary_task_after(
        self, task: alveary.Task, agent: alveary.Agent, outcome: Outcome
    ) -> None:
        watch = self._watches.get(agent.id)
        if watch is None or (outcome.state is TaskState.FAILED and not outcome.retry):
            return  # a permanent failure is the task's fault, not the agent's
        self._judge.attempt(watch, task, outcome.ok, time.time())

    @alveary.hookimpl
    def alveary_route_filter(
        self, candidates: Sequence[alveary.Agent]
    ) -> Sequence[alveary.Agent] | None:
        """Keep a half-open agent out while its probe runs. O(1) when no breaker is
        half-open; O(candidates) only while such an agent is among them."""
        half_open = self._judge.half_open
        if not half_open:
            return None
        probing = {
            w.agent.id for w in half_open.values() if w.agent.in_flight and w.agent in candidates
        }
        if not probing:
            return None
        return [a for a in candidates if a.id not in probing]

    # -- helpers -------------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        future = asyncio.ensure_future(work)
        self._background.add(future)
        future.add_done_callback(self._background.discard)
