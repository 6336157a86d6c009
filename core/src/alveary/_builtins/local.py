"""The ``local`` runtime: agents are Python callables in the orchestrator's own process."""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .._records import Agent, AgentSpec, Task
from ..hookspecs import hookimpl

Handler = Callable[[Task], Any]


class LocalRuntime:
    """Runs each task by calling the agent's ``handler`` with the ``Task``.

    ``options.handler`` is a callable, an object with an ``execute(task)`` method, or a
    ``"module:attribute"`` string naming either. Async handlers run on the event loop; plain
    functions run in a worker thread so they cannot stall it (a thread cannot be killed: on
    timeout the kernel moves on and the thread finishes on its own). An object with a
    ``shutdown()`` method (sync or async) has it called when the agent stops.
    """

    def __init__(self) -> None:
        self._agents: dict[str, tuple[Handler, bool, object]] = {}

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
        self._agents[agent.id] = (fn, is_async, target)

    async def execute(self, agent: Agent, task: Task) -> Any:
        fn, is_async, _ = self._agents[agent.id]
        if is_async:
            return await fn(task)
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, task))

    async def stop(self, agent: Agent) -> None:
        entry = self._agents.pop(agent.id, None)
        if entry is None:
            return
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
        module, sep, attr = handler.partition(":")
        if not sep or not module or not attr:
            raise ValueError(f"handler {handler!r} should look like 'package.module:function'")
        try:
            target: Any = importlib.import_module(module)
            for part in attr.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import handler {handler!r}: {exc}") from None
        handler = target
    if not callable(handler) and not callable(getattr(handler, "execute", None)):
        raise ValueError(f"handler {handler!r} is neither callable nor has an execute() method")
    return handler
