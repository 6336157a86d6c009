"""The ``local`` runtime: agents are Python callables in the orchestrator's own process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .._records import Agent, AgentSpec, Task
from ..agent import find
from ..hookspecs import hookimpl

Handler = Callable[[Task], Any]


class LocalRuntime:
    """Runs each task by calling the agent's ``handler`` with the ``Task``.

    ``options.handler`` is a callable, an object with an ``execute(task)`` method, or a
    ``"module:attribute"`` string naming either. Async handlers run on the event loop; plain
    functions run in threads of the agent's own (at most its capacity), so they cannot stall
    the loop and a hung handler starves no other agent. A thread cannot be killed: on timeout
    the kernel moves on and the thread finishes on its own (it does not keep the process from
    exiting). An object with a ``shutdown()`` method (sync or async) has it called when the
    agent stops.
    """

    def __init__(self) -> None:
        self._agents: dict[str, tuple[Handler, Threads | None, object]] = {}

    @hookimpl
    def alveary_runtimes(self) -> Mapping[str, LocalRuntime]:
        return {"local": self}

    def validate(self, spec: AgentSpec) -> None:
        """Check the handler resolves, so ``alveary check`` catches a bad path early."""
        resolve(spec.options.get("handler"))

    async def start(self, agent: Agent) -> None:
        target = resolve(agent.spec.options.get("handler"))
        fn: Handler = getattr(target, "execute", target)
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
        )
        threads = None if is_async else Threads(agent.spec.capacity, agent.name)
        self._agents[agent.id] = (fn, threads, target)

    async def execute(self, agent: Agent, task: Task) -> Any:
        fn, threads, _ = self._agents[agent.id]
        if threads is None:
            return await fn(task)
        return await threads.run(fn, task)

    async def stop(self, agent: Agent) -> None:
        entry = self._agents.pop(agent.id, None)
        if entry is None:
            return
        if entry[1] is not None:
            entry[1].close()
        shutdown = getattr(entry[2], "shutdown", None)
        if shutdown is not None:
            result = shutdown()
            if inspect.isawaitable(result):
                await result


def resolve(handler: object) -> Any:
    """Turn ``options.handler`` into a callable (or an object with ``execute``)."""
    if handler is None:
        raise ValueError("options.handler is required by the local runtime")
    if isinstance(handler, str):
        handler = find(handler)
    if not callable(handler) and not callable(getattr(handler, "execute", None)):
        raise ValueError(f"handler {handler!r} is neither callable nor has an execute() method")
    return handler


class Threads:
    """An agent's own worker threads, started as needed up to ``limit``. Daemon threads: a
    handler that never returns cannot keep the process from exiting."""

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._started = 0

    async def run(self, fn: Handler, task: Task) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._started < self._limit:
            self._started += 1
            name = f"alveary-{self._name}-{self._started}"
            threading.Thread(target=self._work, name=name, daemon=True).start()
        self._jobs.put((loop, future, fn, task))
        return await future

    def close(self) -> None:
        for _ in range(self._started):
            self._jobs.put(None)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, fn, task = job
            try:
                outcome: tuple[bool, Any] = (True, fn(task))
            except Exception as exc:  # delivered to the awaiting attempt
                outcome = (False, exc)
            except BaseException as exc:  # SystemExit must not reach the event loop
                outcome = (False, RuntimeError(f"the handler raised {type(exc).__name__}"))
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_deliver, future, outcome)


def _deliver(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():  # the attempt was interrupted and moved on
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
