"""What runs inside each Ray actor: the agent's handler, called once per task.

This module is imported in Ray's worker processes, so it needs no more than the handler's
own module and ``alveary.agent`` (which loads no kernel dependency). The handler is the same
``module:function`` a ``subprocess`` agent serves with ``python -m alveary.agent``: a function
decorated with ``@alveary.agent.agent`` or a plain one, sync or async, given an
``alveary.agent.Job``.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from alveary import wire
from alveary.agent import Job, ProtocolAgent, load


class AgentActor:
    """The actor's class (made remote by ``_cluster``). Its methods are coroutines, so Ray
    runs it as an async actor: several tasks at once (up to the agent's capacity), and
    ``ray.cancel`` of a call cancels its coroutine. A plain handler runs in a thread: a
    cancelled call returns at once and the thread finishes on its own."""

    def __init__(self, handler: str) -> None:
        # A failing constructor would only tell the orchestrator that the actor died: the
        # reason is kept for ``ready`` to raise, as an exception that crosses intact.
        self._agent: ProtocolAgent | ValueError
        try:
            self._agent = load(handler)
        except ValueError as exc:
            self._agent = exc
        self._idle = asyncio.Event()
        self._log = _StandardError()

    @property
    def agent(self) -> ProtocolAgent:
        if isinstance(self._agent, ValueError):
            raise self._agent
        return self._agent

    async def ready(self) -> str:
        """The agent's name (as in its ``hello``), once its handler is imported; the
        ``ValueError`` saying why it could not be."""
        return self.agent.name

    async def watch(self) -> None:
        """Never returns: the orchestrator keeps one call open to learn of the actor's death
        the moment it happens, whether it is busy or not."""
        await self._idle.wait()

    async def run(self, task_id: str, kind: str, payload: Any, attempt: int, timeout: float) -> Any:
        """One attempt of a task: the handler's value, or its exception."""
        job = Job(task_id, kind, payload, attempt, timeout, self._log)
        if self.agent.is_async:
            return await self.agent(job)
        return await asyncio.to_thread(self.agent, job)


class _StandardError:
    """Where ``job.log`` goes in an actor: a line on the worker's standard error, as the
    subprocess runtime writes it to the agent's log (``[level] task ID message``). Ray keeps it
    in the worker's log file and shows it where the orchestrator runs (``log_to_driver``, on
    by default). From any thread: one write per line."""

    def __init__(self) -> None:
        self._decoder = wire.Decoder(wire.FROM_AGENT)

    def send(self, data: bytes) -> None:
        message = self._decoder.decode(data.rstrip(b"\n"))
        if isinstance(message, wire.Log):
            sys.stderr.write(f"[{message.level}] task {message.id} {message.message}\n")
            sys.stderr.flush()
