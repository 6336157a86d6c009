"""The health keeper: run health checks and apply their verdicts to agents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ._events import EventBus
from ._hooks import Hooks
from ._records import Agent, HealthReport
from ._registry import Registry
from ._states import AgentState, HealthStatus

_UNCHECKED = (AgentState.STARTING, AgentState.FAILED, AgentState.STOPPED)


class HealthKeeper:
    """Applies health reports: ``unhealthy`` takes an agent out of routing, ``failed``
    removes it (its work re-queued), a recovery puts it back."""

    def __init__(
        self,
        hooks: Hooks,
        registry: Registry,
        events: EventBus,
        pump: Callable[[frozenset[str] | None], None],
        remove: Callable[[Agent, str], Coroutine[Any, Any, None]],
        background: Callable[[Coroutine[Any, Any, None]], object],
    ) -> None:
        self._hooks = hooks
        self._registry = registry
        self._events = events
        self._pump = pump
        self._remove = remove
        self._background = background
        self.claimed_by: str | None = None
        """The plugin that schedules health checks instead of the kernel, if any."""
        self.last_sweep = 0.0

    def apply(self, agent: Agent, report: HealthReport) -> None:
        old = agent.health
        if report.status is old:
            return
        agent.health = report.status
        self._hooks.health_changed(agent, old, report.status, report.reason)
        self._events.emit(
            "agent.health",
            agent=agent,
            data={
                "from": old.name.lower(),
                "to": report.status.name.lower(),
                "reason": report.reason,
                "source": report.source,
            },
        )
        registry = self._registry
        if report.status is HealthStatus.FAILED:
            registry.set_state(agent, AgentState.FAILED, report.reason)
            self._background(self._remove(agent, "failed"))
        elif report.status is HealthStatus.UNHEALTHY:
            if agent.state in (AgentState.READY, AgentState.BUSY):
                registry.set_state(agent, AgentState.UNHEALTHY, report.reason)
        elif agent.state is AgentState.UNHEALTHY:
            full = agent.in_flight >= agent.spec.capacity
            registry.set_state(agent, AgentState.BUSY if full else AgentState.READY, report.reason)
            self._pump(agent.spec.capabilities)

    async def check(self, agent: Agent) -> HealthReport | None:
        """Every check's worst report on one agent (None: all abstained), not applied."""
        if not self._hooks.has_health:
            return None
        return await self._hooks.health_check(agent)

    async def sweep(self, now: float, interval: float) -> None:
        """Check every agent and apply the reports, unless a plugin claimed the checks or
        the last sweep was less than ``interval`` ago."""
        if not self._hooks.has_health or self.claimed_by is not None:
            return
        if now - self.last_sweep < interval:
            return
        self.last_sweep = now
        agents = [a for a in self._registry.by_id.values() if a.state not in _UNCHECKED]
        reports = await asyncio.gather(*(self._hooks.health_check(a) for a in agents))
        for agent, report in zip(agents, reports, strict=True):
            if report is not None and agent.id in self._registry.by_id:
                self.apply(agent, report)
