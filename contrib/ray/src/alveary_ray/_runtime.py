"""The ``ray`` runtime: each agent is a Ray actor, each attempt a call of its ``run`` method."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import alveary
import attrs
import structlog

from . import _cluster as cluster
from ._config import Config, parse

log = structlog.get_logger("alveary.ray")


class AgentLost(alveary.AlvearyError):
    """The agent's actor died while it ran the attempt."""


@attrs.define(eq=False)
class Live:
    """What the runtime holds for one running agent."""

    agent: alveary.Agent
    actor: cluster.Actor
    watcher: asyncio.Task[None] | None = None
    stopping: bool = False


class RayRuntime:
    """Starts an actor per agent, sends it each attempt, and kills it when the agent stops.

    An actor that dies (``ray.kill``, its process or node lost) is reported to the
    orchestrator at once as a ``failed`` agent: the kernel re-queues its tasks and the pool
    starts a new actor in its place, with the pool's restart backoff.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self.orchestrator: alveary.Host | None = None
        self.live: dict[str, Live] = {}
        self._connecting: asyncio.Future[None] | None = None

    def adopt(self, orchestrator: alveary.Host) -> None:
        """At ``alveary_startup``: keep the orchestrator, to report lost agents to it."""
        self.orchestrator = orchestrator

    def validate(self, spec: alveary.AgentSpec) -> None:
        """Check ``spec.options`` so ``alveary check`` reports a mistake against its line."""
        parse(spec.options)

    async def start(self, agent: alveary.Agent) -> None:
        options = parse(agent.spec.options)
        await self._connect()
        name = f"{agent.name}-{agent.id}"
        spawning = cluster.in_thread(
            lambda: cluster.spawn(name, self.config.namespace, options, agent.spec.capacity),
            f"alveary-ray-spawn-{agent.name}",
        )
        try:
            actor = await asyncio.shield(spawning)
        except asyncio.CancelledError:  # out of time: kill the actor once it exists
            spawning.add_done_callback(self._kill_late)
            raise
        live = Live(agent, actor)
        try:
            await cluster.result(cluster.call(actor, "ready"))
        except BaseException as exc:
            live.stopping = True
            await self._kill(live)
            if isinstance(exc, cluster.Died):
                raise RuntimeError(f"the actor could not start: {exc}") from None
            raise
        self.live[agent.id] = live
        live.watcher = asyncio.create_task(self._watch(live), name=f"alveary-ray-{agent.name}")

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        live = self.live[agent.id]
        spec = task.spec
        ref = cluster.call(
            live.actor, "run", task.id, spec.kind, spec.payload, task.attempts, spec.timeout
        )
        try:
            return await cluster.result(ref)
        except asyncio.CancelledError:
            cluster.cancel(ref)
            raise
        except cluster.Died as exc:
            reason = f"its actor died: {exc}"
            self._lost(live, reason)
            raise AgentLost(reason) from None
        except cluster.Failed as exc:
            raise RuntimeError(str(exc)) from None

    async def stop(self, agent: alveary.Agent) -> None:
        live = self.live.pop(agent.id, None)
        if live is None:
            return
        live.stopping = True
        if live.watcher is not None:
            live.watcher.cancel()
        await self._kill(live)

    def route_filter(self, candidates: Sequence[alveary.Agent]) -> Sequence[alveary.Agent] | None:
        """Leave out agents whose actor is known dead but not yet removed."""
        gone = [a for a in candidates if a.id in self.live and self.live[a.id].stopping]
        return [a for a in candidates if a not in gone] if gone else None

    async def _connect(self) -> None:
        """Join the cluster once (in a thread: it takes seconds, or forever if it is down);
        every start waits for the same connection."""
        if self._connecting is None or (
            self._connecting.done() and self._connecting.exception() is not None
        ):
            config = self.config
            self._connecting = cluster.in_thread(
                lambda: cluster.connect(config.address, config.namespace), "alveary-ray-connect"
            )
        await asyncio.shield(self._connecting)

    async def _watch(self, live: Live) -> None:
        """Wait on the call that never returns: it ends only when the actor dies."""
        try:
            await cluster.result(cluster.call(live.actor, "watch"))
        except cluster.Died as exc:
            self._lost(live, f"its actor died: {exc}")
        except Exception as exc:
            self._lost(live, f"its actor stopped answering: {exc}")

    def _lost(self, live: Live, reason: str) -> None:
        """The actor is gone on its own: the orchestrator removes the agent, re-queues its
        tasks, and its pool replaces it."""
        if live.stopping:
            return
        live.stopping = True
        log.warning("agent lost", agent=live.agent.name, reason=reason)
        if self.orchestrator is not None:
            with contextlib.suppress(alveary.NotFound):
                self.orchestrator.set_health(live.agent.id, alveary.HealthStatus.FAILED, reason)

    def _kill_late(self, spawning: asyncio.Future[cluster.Actor]) -> None:
        if not spawning.cancelled() and spawning.exception() is None:
            actor = spawning.result()
            cluster.in_thread(lambda: cluster.kill(actor), "alveary-ray-kill")

    async def _kill(self, live: Live) -> None:
        """Kill the actor, waiting at most ``stop_timeout`` for the cluster to take it."""
        killing = cluster.in_thread(lambda: cluster.kill(live.actor), "alveary-ray-kill")
        try:
            await asyncio.wait_for(killing, self.config.stop_timeout)
        except asyncio.TimeoutError:
            log.warning("the cluster did not kill the actor in time", agent=live.agent.name)
        except Exception as exc:
            log.warning("could not kill the actor", agent=live.agent.name, error=str(exc))
