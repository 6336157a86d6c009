"""A runtime whose agents do what a test scripts, for testing plugins without real agents."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .._errors import PermanentFailure
from .._records import Agent, HealthReport, Task
from .._states import HealthStatus
from ..hookspecs import hookimpl

Act = Callable[[Task], Awaitable[Any]]
"""What an agent does with one task: an async function of the task, returning its value."""

_PAYLOAD = object()


def succeed(value: Any = _PAYLOAD) -> Act:
    """Succeed with ``value`` (the task's payload by default)."""

    async def act(task: Task) -> Any:
        return task.payload if value is _PAYLOAD else value

    return act


def fail(reason: str = "failed on purpose", *, permanent: bool = False) -> Act:
    """Fail the attempt with ``reason``: retried while attempts are left, unless
    ``permanent`` (``alveary.PermanentFailure``: the task fails at once)."""

    async def act(task: Task) -> Any:
        raise PermanentFailure(reason) if permanent else RuntimeError(reason)

    return act


def raises(error: BaseException) -> Act:
    """Raise ``error`` itself, whatever its type."""

    async def act(task: Task) -> Any:
        raise error

    return act


def hang() -> Act:
    """Never finish: only a timeout, a cancellation or the agent's loss ends the attempt."""

    async def act(task: Task) -> Any:
        await asyncio.Event().wait()

    return act


def slow(seconds: float, value: Any = _PAYLOAD) -> Act:
    """Succeed after ``seconds`` (with ``value``, the payload by default)."""

    async def act(task: Task) -> Any:
        await asyncio.sleep(seconds)
        return task.payload if value is _PAYLOAD else value

    return act


class FakeRuntime:
    """A plugin providing the runtime ``name`` (``"fake"``), whose agents run in this process
    and do what the test scripts per agent name with ``script``; unscripted agents ``echo``.

    It records what happened (``started``, ``stopped``, ``executed``, ``cancelled``,
    ``checks``), refuses the first ``refuse_starts`` starts, and answers health checks of
    its agents with what the test puts in ``health``::

        fake = FakeRuntime()
        async with orchestrator({}, fake) as orch:
            await orch.register(AgentSpec("a", {"work"}, runtime="fake"))
            fake.script("a", fail(), succeed(42))  # first task fails, later ones give 42
            fake.health["a"] = HealthStatus.UNHEALTHY
    """

    def __init__(self, name: str = "fake", *, refuse_starts: int = 0) -> None:
        self.name = name
        self.refuse_starts = refuse_starts
        self.health: dict[str, HealthStatus] = {}
        """Agent name -> the status its health checks report (none: abstain)."""
        self.started: list[str] = []
        """Agent names, in the order their starts were asked (refused ones too)."""
        self.stopped: list[str] = []
        self.executed: list[tuple[str, str]] = []
        """(agent name, task id) of every attempt, in the order they began."""
        self.cancelled: list[str] = []
        """Ids of tasks whose attempt was cancelled (timeout, cancel, agent lost, stop)."""
        self.checks: list[str] = []
        """Agent names, one per health check answered."""
        self._scripts: dict[str, list[Act]] = {}
        self._running: set[str] = set()

    def script(self, agent: str, *acts: Act) -> None:
        """Agent ``agent``'s next tasks do ``acts`` in order; the last one then repeats."""
        if not acts:
            raise ValueError("script() needs at least one act")
        self._scripts[agent] = list(acts)

    @hookimpl
    def alveary_runtimes(self) -> Mapping[str, FakeRuntime]:
        return {self.name: self}

    @hookimpl
    def alveary_health_check(self, agent: Agent) -> HealthReport | None:
        status = self.health.get(agent.name)
        if agent.spec.runtime != self.name or agent.id not in self._running or status is None:
            return None
        self.checks.append(agent.name)
        return HealthReport(status, f"set by the test to {status.name.lower()}", self.name)

    async def start(self, agent: Agent) -> None:
        self.started.append(agent.name)
        if len(self.started) <= self.refuse_starts:
            raise OSError(f"start {len(self.started)} of {agent.name} refused by the test")
        self._running.add(agent.id)

    async def execute(self, agent: Agent, task: Task) -> Any:
        acts = self._scripts.get(agent.name)
        act = (acts.pop(0) if len(acts) > 1 else acts[0]) if acts else succeed()
        self.executed.append((agent.name, task.id))
        try:
            return await act(task)
        except asyncio.CancelledError:
            self.cancelled.append(task.id)
            raise

    async def stop(self, agent: Agent) -> None:
        self._running.discard(agent.id)
        self.stopped.append(agent.name)
