"""The kernel measured through its public API: registration, delegation round trips,
throughput, and the routing decision.

Every agent runs in the local runtime with an async no-op handler and capacity 1, so what is
measured is the kernel's own work: records, routing, queueing, dispatch, hooks and events.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Sequence
from typing import Any

import alveary
from _common import GcTimer, latency
from alveary import (
    Agent,
    AgentSpec,
    Event,
    Orchestrator,
    Outcome,
    Task,
    TaskSpec,
    hookimpl,
)

CAPABILITY = "work"
TASK = TaskSpec("noop", requires={CAPABILITY})
"""The one task spec every benchmark submits: a no-op that needs the agents' capability."""


async def noop(task: Task) -> None:
    """Every agent's handler: returns at once, so the time measured is the kernel's."""


class NoopPlugin:
    """A plugin that takes part in every event, every routing score and every finished
    attempt, and does nothing: what a few enabled plugins cost the hot path."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def alveary_event(self, event: Event) -> None:
        return None

    @hookimpl
    def alveary_route_score(self, task: Task, agent: Agent) -> float | None:
        return None

    @hookimpl
    def alveary_task_after(self, task: Task, agent: Agent, outcome: Outcome) -> Outcome | None:
        return None


VARIANTS: dict[str, int] = {"builtins": 0, "plugins": 3}
"""Variant name -> how many no-op plugins it enables besides the built-ins."""

LABELS: dict[str, str] = {"builtins": "built-ins only", "plugins": "+3 no-op plugins"}


def orchestrator(variant: str) -> Orchestrator:
    """A default-configured orchestrator (built-ins: local runtime, memory store,
    least-loaded strategy) with the variant's no-op plugins given directly."""
    plugins = [NoopPlugin(f"noop-{i}") for i in range(1, VARIANTS[variant] + 1)]
    return Orchestrator.from_config({}, plugins=plugins)


def agent_specs(count: int) -> list[AgentSpec]:
    """``count`` specs of capacity-1 agents with the benchmark capability, built up front so
    that the caller's cost of making them is not counted."""
    return [AgentSpec(f"agent-{i}", CAPABILITY, options={"handler": noop}) for i in range(count)]


async def register(orch: Orchestrator, specs: Sequence[AgentSpec]) -> list[int]:
    """Register ``specs`` one after another; each registration's latency in ns."""
    clock = time.perf_counter_ns
    samples = []
    for spec in specs:
        start = clock()
        await orch.register(spec)
        samples.append(clock() - start)
    return samples


async def round_trips(orch: Orchestrator, count: int, warmup: int) -> dict[str, Any]:
    """Submit one task, await its result, then the next: the latency of each round trip."""
    clock = time.perf_counter_ns
    submit = orch.submit
    samples = []
    gc.collect()
    for i in range(warmup + count):
        start = clock()
        outcome = await (await submit(TASK)).result()
        elapsed = clock() - start
        _check(outcome)
        if i >= warmup:
            samples.append(elapsed)
    return latency(samples)


async def throughput(orch: Orchestrator, count: int) -> dict[str, Any]:
    """Submit ``count`` tasks without waiting, then await every result with
    ``alveary.results`` (a future per task, as the floor awaits its futures, and as Ray's
    ``ray.get`` and Dask's ``client.gather`` wait for a batch): tasks per second from the
    first submit to the last result."""
    submit = orch.submit
    gc.collect()
    with GcTimer() as collector:
        start = time.perf_counter()
        handles = [await submit(TASK) for _ in range(count)]
        outcomes = await alveary.results(handles)
        elapsed = time.perf_counter() - start
    for outcome in outcomes:
        _check(outcome)
    return {
        "tasks": count,
        "seconds": elapsed,
        "tasks_per_s": count / elapsed,
        "gc_seconds": collector.seconds,
        "gc_collections": collector.collections,
    }


async def throughput_fresh(variant: str, specs: Sequence[AgentSpec], count: int) -> dict[str, Any]:
    """``throughput`` on a new orchestrator with the fleet registered (not timed), so that
    repeats start alike: no finished tasks retained by the store from earlier runs."""
    async with orchestrator(variant) as orch:
        await register(orch, specs)
        return await throughput(orch, count)


async def warmup(variant: str) -> None:
    """Run every code path once on a small fleet, so that the first measured registrations
    and round trips do not pay one-time costs (imports, caches, interpreter warm-up)."""
    async with orchestrator(variant) as orch:
        await register(orch, agent_specs(200))
        await round_trips(orch, 500, 0)
        await throughput(orch, 2_000)


def routing(orch: Orchestrator, batches: int, per_batch: int) -> dict[str, Any]:
    """The routing decision alone: ``orch._dispatch.route`` on a prepared pending task while every
    agent is ready and idle.

    ``_route`` is the kernel's whole decision (capability index, candidates, filter and score
    hooks, the strategy, the eligibility check) and reserves nothing, so it can be repeated
    on one task. The result is the median over batches of the mean time per decision.
    """
    task = Task("route-probe", TASK)
    route = orch._dispatch.route
    if route(task) is None:
        raise RuntimeError("routing found no agent: the fleet is not idle")
    clock = time.perf_counter_ns
    means = []
    for _ in range(batches):
        start = clock()
        for _ in range(per_batch):
            route(task)
        means.append((clock() - start) / per_batch)
    return {
        "decisions": batches * per_batch,
        "us": statistics.median(means) / 1000,
        "min_us": min(means) / 1000,
    }


def _check(outcome: Outcome) -> None:
    if not outcome.ok:
        raise RuntimeError(f"a benchmark task did not succeed: {outcome}")
