"""Pools: declared groups of agents kept at their desired size, in the background.

Scaling plugins propose a size at each tick; starting and stopping agents never blocks the tick
(an agent that takes seconds to start or stop delays nothing else). Failures of a pool's agents
hold its next start back with an exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any

import attrs
import structlog

from ._config import OrchestratorConfig, PoolConfig
from ._errors import AlvearyError
from ._events import EventBus
from ._hooks import Hooks
from ._records import Agent, AgentSpec, Pool, PoolMetrics, Task
from ._registry import Registry
from ._states import AgentState

log = structlog.get_logger("alveary")

_GONE = (AgentState.DRAINING, AgentState.FAILED, AgentState.STOPPED)


class Pools:
    """Every declared pool by name, and the work of keeping each at its desired size."""

    def __init__(
        self,
        hooks: Hooks,
        registry: Registry,
        events: EventBus,
        settings: OrchestratorConfig,
        now: Callable[[], float],
        register: Callable[[Pool], Coroutine[Any, Any, Agent]],
        remove: Callable[[Agent, str], Coroutine[Any, Any, None]],
        background: Callable[[Coroutine[Any, Any, None]], asyncio.Future[None]],
        joins: Callable[[str], bool],
    ) -> None:
        self._hooks = hooks
        self._registry = registry
        self._events = events
        self._settings = settings
        self._now = now
        self._register = register
        self._remove = remove
        self._background = background
        self._joins = joins
        self.by_name: dict[str, Pool] = {}
        self._starts: set[asyncio.Future[None]] = set()

    def declare(self, configs: Iterable[PoolConfig]) -> None:
        for config in configs:
            spec = config.agent_spec(config.name)
            self.by_name[config.name] = Pool(config.name, spec, config.size, config.size.min)

    def capabilities(self) -> Iterator[frozenset[str]]:
        return (pool.spec.capabilities for pool in self.by_name.values())

    def metrics(self, pool: Pool, waiting: list[Task]) -> PoolMetrics:
        members = [self._registry.by_id[i] for i in pool.agents if i in self._registry.by_id]
        caps = pool.spec.capabilities
        mine = [t for t in waiting if t.spec.requires <= caps]
        oldest = min((t.times.get("queued", t.submitted) for t in mine), default=None)
        return PoolMetrics(
            agents=len(members),
            ready=sum(a.state is AgentState.READY for a in members),
            busy=sum(a.state is AgentState.BUSY for a in members),
            in_flight=sum(a.in_flight for a in members),
            capacity=sum(a.spec.capacity for a in members),
            queued=len(mine),
            idle=sum(a.state is AgentState.READY and a.in_flight == 0 for a in members),
            oldest_wait=0.0 if oldest is None else max(0.0, self._now() - oldest),
        )

    def reconcile(self, waiting: Callable[[], list[Task]]) -> None:
        """Ask the scaling plugins for each pool's size, then start or stop agents in the
        background to reach it. Returns at once."""
        queued = waiting() if self._hooks.has_scale and self.by_name else []
        for pool in self.by_name.values():
            if self._joins(pool.spec.runtime):
                continue  # its agents come on their own (``Runtime.joins``)
            if self._hooks.has_scale:
                self._rescale(pool, queued)
            live = [
                agent
                for i in pool.agents
                if (agent := self._registry.by_id.get(i)) is not None and agent.state not in _GONE
            ]
            missing = pool.desired - len(live) - pool.starting
            if missing > 0 and self._now() >= pool.restart_at:
                for _ in range(missing):
                    pool.starting += 1
                    start = self._background(self._spawn(pool))
                    self._starts.add(start)
                    start.add_done_callback(self._starts.discard)
            elif missing < 0:
                idle = [a for a in live if a.state is AgentState.READY and a.in_flight == 0]
                for agent in idle[:-missing]:
                    # draining now, so that nothing routes to it and the next tick counts it out
                    self._registry.set_state(agent, AgentState.DRAINING, "scaled down")
                    self._background(self._remove(agent, "scaled down"))

    def cancel_starts(self) -> set[asyncio.Future[None]]:
        """Cancel the agent starts under way (the orchestrator is stopping); return them."""
        starts = set(self._starts)
        for start in starts:
            start.cancel()
        return starts

    def _rescale(self, pool: Pool, waiting: list[Task]) -> None:
        answer = self._hooks.scale(pool, self.metrics(pool, waiting))
        if answer is None:
            return
        proposed, plugin = answer
        desired = pool.size.clamp(proposed)
        if desired != pool.desired:
            self._events.emit(
                "pool.scaled",
                data={
                    "pool": pool.name,
                    "from": pool.desired,
                    "to": desired,
                    "proposed": proposed,
                    "by": plugin,
                },
            )
            pool.desired = desired

    async def _spawn(self, pool: Pool) -> None:
        try:
            pool.started += 1
            try:
                await self._register(pool)  # which counts it in the pool (``joined``)
            except AlvearyError as exc:
                log.warning("pool agent failed to start", pool=pool.name, error=str(exc))
                self.failed(pool, str(exc))
                return
        finally:
            pool.starting -= 1

    def joined(self, agent: Agent) -> None:
        """Count a registered agent in its pool (``agent.pool``), if that is a declared one."""
        pool = self.by_name.get(agent.pool) if agent.pool is not None else None
        if pool is not None and agent.id not in pool.agents:
            pool.agents.append(agent.id)

    def spec_for(self, pool: Pool) -> AgentSpec:
        """The spec of the pool's next agent: its own name, ``<pool>-<n>``."""
        return attrs.evolve(pool.spec, name=f"{pool.name}-{pool.started}")

    def left(self, agent: Agent, failed: bool) -> None:
        """An agent left: forget it in its pool, and count a failure against the pool."""
        pool = self.by_name.get(agent.pool) if agent.pool is not None else None
        if pool is None:
            return
        if agent.id in pool.agents:
            pool.agents.remove(agent.id)
        if failed:
            self.failed(pool, f"agent {agent.name} failed")

    def failed(self, pool: Pool, reason: str) -> None:
        """Count a failure of the pool's agents and hold its next start back: the first
        replacement is immediate, then ``restart_base * 2**(n-2)`` s up to ``restart_max``."""
        settings = self._settings
        now = self._now()
        if now - pool.failed_at > 2 * settings.restart_max:
            pool.failures = 0
        pool.failures += 1
        pool.failed_at = now
        if pool.failures < 2:
            return
        delay = min(settings.restart_max, settings.restart_base * 2 ** (pool.failures - 2))
        pool.restart_at = max(pool.restart_at, now + delay)
        self._events.emit(
            "pool.backoff",
            data={
                "pool": pool.name,
                "failures": pool.failures,
                "delay": round(delay, 3),
                "reason": reason,
            },
        )
