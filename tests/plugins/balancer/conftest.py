"""Helpers for the balancer's tests: a handler that holds tasks until released, and a
strategy that checks every pick of a balancer strategy against the kernel's candidates."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import alveary
import pytest
from alveary import Agent, AgentState, Candidates, Task


class Gate:
    """An agent handler: each task waits until ``open()``, then returns its payload."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def open(self) -> None:
        self.event.set()

    def close(self) -> None:
        """Hold the tasks that come next."""
        self.event.clear()

    async def __call__(self, task: Task) -> Any:
        await self.event.wait()
        return task.payload


def admitted(agent: Agent, ceiling: float = 0.85) -> bool:
    """Under the resource ceiling (the hard limit; the health floor is a preference)."""
    usage = max((agent.metrics.get(k, 0.0) for k in ("context", "memory", "cpu")), default=0.0)
    return usage < ceiling


class Checked:
    """Strategy ``checked``: runs the balancer's strategy ``inner`` and records every pick
    that is not a candidate, not ready, full, lacks a capability or is over the ceiling, and
    every degraded pick made while a healthy candidate was at hand, for strategies that look
    at every candidate (``strict_health``)."""

    name = "checked"

    def __init__(self, inner: str) -> None:
        self.inner_name = inner
        self.inner: alveary.Strategy | None = None
        self.picks = 0
        self.violations: list[str] = []

    @alveary.hookimpl
    def alveary_strategies(self) -> Mapping[str, Checked]:
        return {"checked": self}

    @alveary.hookimpl
    def alveary_startup(self, orchestrator: alveary.Orchestrator) -> None:
        plugin: Any = orchestrator.plugins["balancer"]
        self.inner = plugin.strategies[self.inner_name]

    def select(self, task: Task, candidates: Candidates) -> Agent | None:
        assert self.inner is not None
        agent = self.inner.select(task, candidates)
        if agent is None:
            return None
        self.picks += 1
        problems = []
        if agent not in candidates:
            problems.append("not a candidate")
        if agent.state is not AgentState.READY:
            problems.append(f"state {agent.state.value}")
        if agent.in_flight >= agent.spec.capacity:
            problems.append("full")
        if not task.spec.requires <= agent.spec.capabilities:
            problems.append("lacks a capability")
        if not admitted(agent):
            problems.append("over the resource ceiling")
        if problems:
            self.violations.append(f"{agent.name} for {task.id}: {', '.join(problems)}")
        return agent


@pytest.fixture
def gate() -> Gate:
    """A handler holding tasks until ``gate.open()``."""
    return Gate()


@pytest.fixture
def checked() -> type[Checked]:
    """The ``Checked`` strategy class: ``checked("p2c")`` wraps the balancer's p2c."""
    return Checked
