"""The ``remote`` runtime: agents on other machines that connect to ``/v1/agents/connect``
and speak the agent protocol (``docs/agent-protocol.md``), one message per WebSocket frame.

A remote agent is not started: it comes. ``_connect`` admits the connection, reads its
``hello`` and registers an agent for it, whose ``start`` here takes the waiting ``Link``.
Tasks and cancels go out through the same ``Connection`` a subprocess agent's pipes feed;
when the connection drops, the agent is failed at once, so its in-flight tasks are retried
elsewhere without waiting for their timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import alveary
import attrs
import structlog
from alveary import wire
from alveary_subprocess import AgentLog, AgentLost, Connection
from litestar import WebSocket

from ._config import Remote

log = structlog.get_logger("alveary.gateway")

LINK = "link"
"""The option of a remote agent's spec naming the connection it was registered for."""


@attrs.define(eq=False)
class Link:
    """One remote agent's connection: the socket, the protocol on it, and how it ended."""

    socket: WebSocket[Any, Any, Any]
    hello: wire.Hello
    peer: str
    conn: Connection | None = None
    log: AgentLog | None = None
    agent: alveary.Agent | None = None
    outbox: asyncio.Queue[bytes | None] = attrs.field(factory=asyncio.Queue)
    ended: asyncio.Event = attrs.field(factory=asyncio.Event)
    reason: str = ""
    close_code: int | None = None
    """Set when this end hangs up (the agent misbehaved), to close the socket with."""
    stopping: bool = False

    def send(self, data: bytes) -> None:
        """For the ``Connection``: queue a message for the writer."""
        if self.ended.is_set():
            raise AgentLost(self.reason or "the connection closed")
        self.outbox.put_nowait(data)

    async def write(self) -> None:
        """Send what is queued, one frame per message, until the end; then hang up if this
        end decided it (``close_code``)."""
        while (data := await self.outbox.get()) is not None:
            try:
                await self.socket.send_text(data.rstrip(b"\n").decode())
            except Exception as exc:  # a socket that cannot be written to is gone
                self.end(f"cannot write to the agent: {exc or type(exc).__name__}")
                return
        if self.close_code is not None:
            await close(self.socket, self.close_code, self.reason)

    def end(self, reason: str, close_code: int | None = None) -> None:
        """The connection is over: fail what waits on it, once. With ``close_code``, the
        writer closes the socket with it (the reader then sees the end)."""
        if self.ended.is_set():
            return
        self.reason, self.close_code = reason, close_code
        self.ended.set()
        self.outbox.put_nowait(None)
        if self.conn is not None:
            self.conn.close(reason)


async def close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    """Close with ``code`` and as much of ``reason`` as a close frame holds (123 bytes)."""
    text = reason.encode()[:123].decode(errors="ignore")
    with contextlib.suppress(Exception):
        if socket.connection_state == "init":
            await socket.accept()
        await socket.close(code, text)


class RemoteRuntime:
    """Runs tasks on agents that connected over a WebSocket (``runtime = "remote"``)."""

    joins = True
    """Its agents come on their own: a pool of it is filled by connections, not starts."""

    def __init__(self, settings: Remote) -> None:
        self.settings = settings
        self.waiting: dict[str, Link] = {}
        """Connections whose agent is being registered, by the spec's ``link`` option."""
        self.links: dict[str, Link] = {}
        """Connections of registered agents, by agent id."""
        self.orchestrator: alveary.Host | None = None

    def validate(self, spec: alveary.AgentSpec) -> None:
        """A pool of remote agents takes no options: its agents bring their own program."""
        extra = set(spec.options) - {LINK}
        if extra:
            raise ValueError(
                f"a remote pool takes no options (got {', '.join(sorted(extra))}): "
                "its agents are programs on other machines that connect"
            )

    async def start(self, agent: alveary.Agent) -> None:
        link = self.waiting.pop(str(agent.spec.options.get(LINK, "")), None)
        if link is None:
            raise RuntimeError(
                "remote agents are not started by the orchestrator: they connect to "
                "/v1/agents/connect (python -m alveary.agent MODULE:FUNCTION --connect URL)"
            )
        problem = link.hello.mismatch(agent.spec)
        if problem is not None:
            raise RuntimeError(problem)
        if link.ended.is_set():
            raise RuntimeError(f"the connection closed before the agent started: {link.reason}")
        link.agent = agent
        self.links[agent.id] = link

    async def execute(self, agent: alveary.Agent, task: alveary.Task) -> Any:
        link = self.links.get(agent.id)
        if link is None or link.conn is None:
            raise AgentLost(f"agent {agent.name} is not connected")
        return await link.conn.run(task)

    async def stop(self, agent: alveary.Agent) -> None:
        link = self.links.pop(agent.id, None)
        if link is None:
            return
        link.stopping = True
        if self.orchestrator is not None and self.orchestrator.stopping:
            # the agent's program is not ours to end: it connects again, to the next run
            link.end("the orchestrator is stopping")
            await close(link.socket, 1012, "the orchestrator is stopping")
        else:
            if not link.ended.is_set() and link.conn is not None:
                link.conn.shutdown()  # finish what runs and exit
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(link.ended.wait(), self.settings.stop_grace)
            link.end("the agent was stopped")
            await close(link.socket, 1000, "stopped")
        if link.log is not None:
            link.log.note("stopped")

    def lost(self, link: Link) -> None:
        """The connection dropped: the agent is failed now, its in-flight tasks retried."""
        agent = link.agent
        if agent is None or link.stopping or self.orchestrator is None:
            return
        if link.log is not None:
            link.log.note(f"lost: {link.reason}")
        log.warning("remote agent lost", agent=agent.name, peer=link.peer, reason=link.reason)
        with contextlib.suppress(alveary.NotFound):
            self.orchestrator.set_health(agent.id, alveary.HealthStatus.FAILED, link.reason)

    def close(self) -> None:
        """At shutdown: hang up on whatever is still connected."""
        for link in [*self.waiting.values(), *self.links.values()]:
            link.end("the orchestrator is stopping")
