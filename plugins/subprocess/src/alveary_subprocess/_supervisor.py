"""What every runtime with out-of-process agents shares: the record of a running agent
(``Live``) and the ``Supervisor`` that wires it to the orchestrator and reports its end."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import alveary
import attrs
import structlog

from . import workspace as ws
from ._oneshot import ToolFailed
from .logs import AgentLog, log_name
from .options import ProcessOptions
from .orphans import Entry, Orphans, stop_recorded
from .process import Child, build_env, secret_values
from .protocol import AgentLost, Connection

log = structlog.get_logger("alveary.subprocess")

_FINISHED = frozenset({alveary.AgentState.FAILED, alveary.AgentState.STOPPED})
"""Agent states the orchestrator never routes to again."""

_EXIT_GRACE = 1.0
"""How long an agent that closed its output has to exit (and say why) before it is killed."""


@attrs.define(eq=False)
class Live:
    """What a runtime holds for one running agent (shared with the ``tmux`` runtime)."""

    agent: alveary.Agent
    options: ProcessOptions
    workspace: ws.Workspace
    env: dict[str, str]
    log: AgentLog
    conn: Connection | None = None
    child: Child | None = None
    chores: list[asyncio.Task[Any]] = attrs.field(factory=list)
    began: float = 0.0
    """When its process was started (``time.perf_counter()``), for its start-up time."""
    started: bool = False
    stopping: bool = False
    cause: str | None = None
    """Why the runtime killed the process itself (it misbehaved), for the failure reason."""
    exit: str | None = None
    """How its process ended (``the process exited with code 3``), once it did."""
    output: str = ""
    """The last lines it printed, when the runtime knows them better than its log does."""
    ended: str | None = None
    """Why the agent is gone, once it is: ``exit`` or ``cause``, with its last output."""


class Supervisor:
    """What every runtime with out-of-process agents shares: the orchestrator it reports to,
    start-up pacing, and wiring a ``Connection`` to the orchestrator. (Restarting a pool's
    failed agents, with backoff, is the kernel's.)"""

    name = ""
    """The runtime's name: what a pool's ``runtime`` says."""

    def __init__(self, config: Any, log_dir: Path, namespace: str) -> None:
        self.config = config
        self.log_dir = log_dir
        self.orchestrator: alveary.Host | None = None
        self.live: dict[str, Live] = {}
        self.gone: dict[str, alveary.Agent] = {}
        """Agents whose process or channel is gone, from the moment the runtime knows until
        the orchestrator has removed them: they still look ready, so the plugin's
        ``alveary_route_filter`` leaves them out (a task sent there would fail at once)."""
        self._starting: asyncio.Semaphore | None = None
        self.orphans = Orphans(namespace, self.stop_orphan)
        """The agents running, recorded in a durable store under ``namespace``."""

    def adopt(self, orchestrator: alveary.Host) -> None:
        """At ``alveary_startup``: keep the orchestrator (a process that dies is reported at
        once, heartbeats reach it) and stop what a dead run left (``start`` waits for it)."""
        self.orchestrator = orchestrator
        self.orphans.open(orchestrator)

    async def stop_orphan(self, name: str, entry: Entry) -> dict[str, Any] | None:
        """Stop the process group of agent ``name`` that a dead run left, if it is still
        the recorded process; what to report, or None if it was not there."""
        if not await stop_recorded(entry):
            return None
        return {"pid": entry["pid"], "orchestrator": entry.get("orchestrator")}

    # -- start-up pacing --------------------------------------------------------------------

    def starting(self) -> asyncio.Semaphore:
        """Bounds how many agents start at once (``max_starting``)."""
        if self._starting is None:
            limit = self.config.max_starting or 4 * (os.cpu_count() or 1)
            self._starting = asyncio.Semaphore(limit)
        return self._starting

    # -- wiring ---------------------------------------------------------------------------------

    def heartbeat_interval(self) -> float:
        """The interval an enabled plugin publishes as ``heartbeat_interval`` (the ``health``
        plugin paces heartbeats by fleet size), else 5 seconds."""
        for plugin in self.orchestrator.plugins.values() if self.orchestrator else ():
            interval = getattr(plugin, "heartbeat_interval", None)
            if isinstance(interval, (int, float)) and not isinstance(interval, bool):
                return float(interval)
        return 5.0

    async def prepare(
        self,
        agent: alveary.Agent,
        options: ProcessOptions,
        extra_env: Mapping[str, str] | None = None,
    ) -> Live:
        """What every ``start`` begins with: the agent's environment (``extra_env`` added),
        its workspace and its log."""
        env = build_env(options, agent, extra_env, heartbeat=self.heartbeat_interval())
        place = await ws.prepare(options, agent.name)
        return Live(agent, options, place, env, self.open_log(agent, options))

    async def release(self, live: Live) -> None:
        """What every clean-up ends with: the connection closed (its tasks told why), the
        workspace released (a kept one noted in the log), the log closed."""
        if live.conn is not None:
            live.conn.close(live.ended or "the agent stopped")
        note = await ws.release(live.workspace)
        if note:
            live.log.note(note)
            log.warning("workspace kept", agent=live.agent.name, note=note)
        live.log.close()

    def open_log(self, agent: alveary.Agent, options: ProcessOptions) -> AgentLog:
        return AgentLog(
            self.log_dir / log_name(agent.name),
            max_bytes=self.config.log_max_bytes,
            secrets=secret_values(options),
        )

    def mark_gone(self, live: Live) -> None:
        """The agent's process exited or a write to it failed: route nothing more to it.
        Forgets agents the orchestrator has finished with (the runtime's own ``_cleanup``
        forgets them too). An agent being stopped is not routed to anyway."""
        if live.stopping:
            return
        agent = live.agent
        self.gone[agent.id] = agent
        for other in [a for a in self.gone.values() if a.state in _FINISHED]:
            del self.gone[other.id]

    def route_filter(self, candidates: Sequence[alveary.Agent]) -> Sequence[alveary.Agent] | None:
        """For ``alveary_route_filter``: leave out agents whose process is gone while their end
        is being reported (they still look ready; a task sent there would fail at once and
        spend an attempt). ``None``, at no cost, while no agent is gone."""
        gone = self.gone
        if not gone or not any(agent in candidates for agent in gone.values()):
            return None
        return [agent for agent in candidates if agent.id not in gone]

    def connect(self, live: Live, send: Callable[[bytes], None]) -> Connection:
        agent = live.agent

        def send_or_mark(data: bytes) -> None:
            try:
                send(data)
            except (OSError, RuntimeError, AgentLost):
                self.mark_gone(live)
                raise

        live.conn = Connection(
            agent.name,
            send_or_mark,
            live.log,
            on_heartbeat=lambda metrics: self._heartbeat(agent, metrics),
            on_broken=lambda reason: self.broken(live, reason),
            emit=lambda kind, data: self.emit(kind, agent, data),
            max_bad_lines=self.config.max_bad_lines,
            cancel_grace=self.config.cancel_grace,
            max_line=live.options.max_line,
        )
        return live.conn

    async def await_hello(self, live: Live, gone: asyncio.Future[Any]) -> None:
        """Wait for the agent's hello, or its end (``gone``), or ``start_timeout``; raise
        ``RuntimeError`` saying which, with the last lines it printed."""
        assert live.conn is not None
        hello = live.conn.hello
        began = live.began or time.perf_counter()
        await asyncio.wait(
            {hello, gone}, timeout=live.options.start_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if hello.done() and hello.exception() is None:
            found = hello.result()
            problem = found.mismatch(live.agent.spec)
            if problem is not None:
                raise RuntimeError(problem)
            live.started = True
            took = time.perf_counter() - began
            live.log.note(
                f"hello after {took:.3f} s: {found.name or '-'} {found.version or ''} "
                f"protocol {found.protocol}"
            )
            self.emit(
                "protocol.hello",
                live.agent,
                {
                    "name": found.name,
                    "version": found.version,
                    "protocol": found.protocol,
                    "capacity": found.capacity,
                    "capabilities": sorted(found.capabilities or ()),
                    "seconds": round(took, 6),
                },
            )
            extra = (found.capabilities or frozenset()) - live.agent.spec.capabilities
            if extra:
                log.debug(
                    "agent offers capabilities its config does not route",
                    agent=live.agent.name,
                    extra=sorted(extra),
                )
            return
        if live.cause is not None:
            reason = f"{live.cause} before its hello; the agent was killed"
        elif gone.done():
            reason = f"{live.exit or 'the agent ended'} before its hello"
        elif hello.done():
            reason = str(hello.exception())
        else:
            reason = f"no hello within {live.options.start_timeout:g} s"
        tail = live.output or live.log.tail()
        raise RuntimeError(f"{reason}; last output: {tail}" if tail else reason)

    def lost(self, live: Live, reason: str) -> None:
        """The agent is gone on its own: fail its tasks now and tell the orchestrator, which
        removes it and lets its pool replace it."""
        live.ended = reason
        self.mark_gone(live)
        if live.conn is not None:
            live.conn.close(reason)
        if not live.started or live.stopping:
            return
        live.log.note(f"lost: {reason}")
        log.warning("agent lost", agent=live.agent.name, reason=reason)
        if self.orchestrator is not None:
            with contextlib.suppress(alveary.NotFound):
                self.orchestrator.set_health(live.agent.id, alveary.HealthStatus.FAILED, reason)

    def broken(self, live: Live, reason: str) -> None:
        """The agent misbehaves beyond repair: kill it (``kill`` says how); its end is then
        reported with this reason."""
        if live.cause is None and not live.stopping:
            live.cause = reason
            self.mark_gone(live)
            live.log.note(f"killing the agent: {reason}")
            if live.conn is not None:  # nothing more goes to it meanwhile
                live.conn.close(f"{reason}; the agent was killed")
            self.kill(live)

    async def closed_output(self, live: Live, ended: asyncio.Future[Any]) -> None:
        """The agent closed its output: nothing it does can reach the orchestrator any more.
        Route nothing more to it; unless its program ends (``ended``) within a moment, which
        then says why, it is broken: killed, its tasks failed at once and retried elsewhere."""
        if live.stopping:
            return
        self.mark_gone(live)
        await asyncio.wait({ended}, timeout=_EXIT_GRACE)
        if not ended.done():
            self.broken(live, "it closed its output but kept running")

    def kill(self, live: Live) -> None:
        raise NotImplementedError

    def health(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """FAILED with the reason once the agent's process is gone; otherwise abstain."""
        live = self.live.get(agent.id)
        if live is not None and live.ended is not None:
            return alveary.HealthReport(alveary.HealthStatus.FAILED, live.ended)
        return None

    async def check(self, agent: alveary.Agent) -> alveary.HealthReport | None:
        """The plugin's health check of one of its agents: ``health``, unless the runtime
        has more to look at (tmux asks tmux)."""
        return self.health(agent)

    async def close(self) -> None:
        """At shutdown: end whatever is still running (the kernel stopped every agent
        before, so normally nothing)."""
        raise NotImplementedError

    def emit(self, kind: str, agent: alveary.Agent, data: dict[str, Any]) -> None:
        if self.orchestrator is not None:
            with contextlib.suppress(alveary.NotFound):
                self.orchestrator.emit(kind, agent_id=agent.id, data=data)

    def _heartbeat(self, agent: alveary.Agent, metrics: dict[str, float]) -> None:
        if self.orchestrator is not None:
            with contextlib.suppress(alveary.NotFound):
                self.orchestrator.heartbeat(agent.id, **metrics)

    async def run_task(self, live: Live, task: alveary.Task, work: Any) -> Any:
        """Await ``work`` within ``options.timeout`` (if set)."""
        limit = live.options.timeout
        if limit is None:
            return await work
        try:
            return await asyncio.wait_for(work, limit)
        except asyncio.TimeoutError:
            raise ToolFailed(f"timed out after {limit:g} s (options.timeout)") from None
