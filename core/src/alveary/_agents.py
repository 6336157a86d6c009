"""Agents joining and leaving: start through a runtime, drain, interrupt, stop, forget."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import structlog

from ._attempts import Attempts
from ._components import Runtime
from ._config import OrchestratorConfig
from ._errors import StartFailed
from ._events import EventBus
from ._guard import Overrun, bounded
from ._hooks import Hooks
from ._isolation import describe
from ._records import Agent, AgentSpec, Principal
from ._registry import Registry
from ._states import AgentState

log = structlog.get_logger("alveary")


class Membership:
    """Registers agents and takes them out again. Every runtime call is bounded: a runtime
    that hangs in ``start`` fails the start; one that hangs in ``stop`` is abandoned."""

    def __init__(
        self,
        hooks: Hooks,
        registry: Registry,
        events: EventBus,
        attempts: Attempts,
        runtimes: Mapping[str, Runtime],
        settings: OrchestratorConfig,
        now: Callable[[], float],
        new_id: Callable[[], str],
        pump: Callable[[frozenset[str] | None], None],
        joined: Callable[[Agent], None],
        left: Callable[[Agent, bool], None],
    ) -> None:
        self._hooks = hooks
        self._registry = registry
        self._events = events
        self._attempts = attempts
        self._runtimes = runtimes
        self._settings = settings
        self._now = now
        self._new_id = new_id
        self._pump = pump
        self._joined = joined
        self._left = left
        self._removing: dict[str, asyncio.Future[None]] = {}

    def runtime(self, name: str) -> Runtime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            known = ", ".join(sorted(self._runtimes)) or "(none installed)"
            raise ValueError(f"runtime {name!r} is not one of {known}")
        return runtime

    async def register(self, spec: AgentSpec, principal: Principal, pool: str | None) -> Agent:
        if spec.name in self._registry.by_name:
            raise ValueError(f"an agent named {spec.name!r} is already registered")
        try:
            runtime = self.runtime(spec.runtime)
        except ValueError as exc:
            raise ValueError(f"agent {spec.name!r}: {exc}") from None
        spec = await self._hooks.agent_validate(spec, principal)
        agent = Agent(self._new_id(), spec, pool=pool, heartbeat=self._now())
        self._registry.add(agent)
        self._events.emit(
            "agent.starting",
            agent=agent,
            data={"name": spec.name, "runtime": spec.runtime, "pool": pool},
        )
        settings = self._settings
        try:
            await bounded(runtime.start(agent), settings.start_timeout, settings.cancel_grace)
        except asyncio.CancelledError:  # the orchestrator is stopping: the start is undone
            self._registry.forget(agent)
            agent.state = AgentState.FAILED
            raise
        except Exception as exc:  # Overrun included: a start that hangs fails
            reason = (
                f"did not start within {settings.start_timeout:g} s"
                if isinstance(exc, Overrun)
                else describe(exc)
            )
            self._registry.forget(agent)
            agent.state = AgentState.FAILED
            self._events.emit(
                "agent.failed", agent=agent, data={"reason": f"start failed: {reason}"}
            )
            if isinstance(exc, Overrun):
                await self._stop(runtime, agent)
            raise StartFailed(
                f"agent {spec.name!r}: runtime {spec.runtime!r} could not start it: {reason}"
            ) from exc
        self._registry.set_state(agent, AgentState.READY)
        self._joined(agent)
        self._hooks.agent_registered(agent)
        self._pump(agent.spec.capabilities)
        return agent

    async def drain(self, agent: Agent, timeout: float | None) -> bool:
        """Stop giving the agent work and wait until its in-flight tasks finish; False if
        ``timeout`` passed first (the agent stays draining)."""
        if agent.state in (AgentState.READY, AgentState.BUSY, AgentState.UNHEALTHY):
            self._registry.set_state(agent, AgentState.DRAINING)
        return await self._registry.idle(agent, timeout)

    async def remove(
        self, agent: Agent, reason: str, *, drain: bool, timeout: float | None = None
    ) -> None:
        """Take an agent out: drain or interrupt its work, stop it, forget it. A second call
        while one is under way waits for it (a failure interrupts the work at once)."""
        if agent.id not in self._registry.by_id or agent.state is AgentState.STOPPED:
            return
        ongoing = self._removing.get(agent.id)
        if ongoing is not None:
            if agent.state is AgentState.FAILED:
                self._interrupt(agent, reason, count=True)
            await asyncio.shield(ongoing)
            return
        done = self._removing[agent.id] = asyncio.get_running_loop().create_future()
        try:
            await self._take_out(agent, reason, drain=drain, timeout=timeout)
        finally:
            del self._removing[agent.id]
            done.set_result(None)

    def _interrupt(self, agent: Agent, reason: str, *, count: bool) -> None:
        for attempt in self._attempts.on_agent(agent):
            self._attempts.interrupt(attempt, f"agent {agent.name} {reason}", count=count)

    async def _take_out(
        self, agent: Agent, reason: str, *, drain: bool, timeout: float | None
    ) -> None:
        if drain and agent.state is not AgentState.FAILED:
            await self.drain(agent, timeout)
        elif agent.state is not AgentState.FAILED:
            self._registry.set_state(agent, AgentState.DRAINING, reason)
        failed = agent.state is AgentState.FAILED
        self._interrupt(agent, reason, count=failed)
        if not await self._registry.idle(agent, self._settings.cancel_grace):
            for attempt in self._attempts.on_agent(agent):
                self._attempts.abandon(attempt)
        await self._stop(self._runtimes[agent.spec.runtime], agent)
        self._registry.forget(agent)
        if not failed:
            self._registry.set_state(agent, AgentState.STOPPED, reason)
        self._left(agent, failed)
        self._hooks.agent_deregistered(agent, reason)

    async def _stop(self, runtime: Runtime, agent: Agent) -> None:
        settings = self._settings
        try:
            await bounded(runtime.stop(agent), settings.shutdown_timeout, settings.cancel_grace)
        except Overrun:
            log.warning("runtime did not stop agent in time", agent=agent.name)
        except Exception as exc:
            log.warning("runtime failed to stop agent", agent=agent.name, error=describe(exc))
