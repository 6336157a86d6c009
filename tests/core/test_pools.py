"""Pools: declared agents the kernel starts, replaces, and resizes when a scaling plugin asks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alveary import (
    Agent,
    AgentState,
    Event,
    FieldError,
    HealthStatus,
    Pool,
    PoolMetrics,
    PoolSize,
    Task,
    TaskSpec,
    TaskState,
    hookimpl,
)
from alveary.testing import EventRecorder, orchestrator, until


class Gate:
    """An async handler that holds every task until ``open()``."""

    def __init__(self) -> None:
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def __call__(self, task: Task) -> Any:
        await self._open.wait()
        return task.payload


class Scaler:
    """Proposes ``desired`` (None abstains) and counts how often it was asked."""

    def __init__(self, name: str, desired: int | None = None) -> None:
        self.name = name
        self.desired = desired
        self.calls = 0
        self.seen: list[PoolMetrics] = []

    @hookimpl
    def alveary_scale(self, pool: Pool, metrics: PoolMetrics) -> int | None:
        self.calls += 1
        self.seen.append(metrics)
        return self.desired


def pool_config(handler: object = "alveary.testing:echo", **size: int) -> dict[str, Any]:
    return {
        "orchestrator": {"tick_interval": 0.01},
        "pools": [
            {
                "name": "reviewers",
                "size": size or {"min": 2, "max": 4},
                "capabilities": ["review", "lint"],
                "capacity": 3,
                "options": {"handler": handler},
                "labels": {"team": "qa"},
            }
        ],
    }


def names(agents: list[Agent]) -> list[str]:
    return sorted(a.name for a in agents)


def stopped(rec: EventRecorder) -> dict[str, str]:
    """Agent id -> reason, for every agent stopped so far."""
    return {
        e.agent_id or "": e.data.get("reason", "") for e in rec.events if e.type == "agent.stopped"
    }


async def test_pool_starts_its_minimum_with_the_pool_spec() -> None:
    async with orchestrator(pool_config()) as orch:
        agents = orch.agents()
        assert names(agents) == ["reviewers-1", "reviewers-2"]
        for agent in agents:
            assert agent.pool == "reviewers"
            assert agent.state is AgentState.READY
            assert agent.spec.capabilities == {"review", "lint"}
            assert agent.spec.capacity == 3
            assert agent.spec.options == {"handler": "alveary.testing:echo"}
            assert agent.spec.labels == {"team": "qa"}
        pool = orch.pools["reviewers"]
        assert (pool.desired, sorted(pool.agents)) == (2, sorted(a.id for a in agents))
        handle = await orch.submit(TaskSpec("review", payload="diff", requires={"review"}))
        outcome = await handle.result(timeout=5)
        assert outcome.value == "diff"
        assert outcome.agent_id in pool.agents


async def test_pool_with_minimum_zero_starts_nothing() -> None:
    async with orchestrator(pool_config(min=0, max=2)) as orch:
        assert orch.agents() == []
        assert orch.pools["reviewers"].desired == 0


async def test_pool_agent_that_leaves_or_fails_is_replaced_on_a_later_tick() -> None:
    async with orchestrator(pool_config()) as orch:
        await orch.deregister("reviewers-1")
        await until(lambda: len(orch.agents()) == 2)
        assert names(orch.agents()) == ["reviewers-2", "reviewers-3"]
        replacement = orch.agent("reviewers-3")
        assert (replacement.pool, replacement.spec.capabilities) == (
            "reviewers",
            {"review", "lint"},
        )

        orch.set_health("reviewers-2", HealthStatus.FAILED, "crashed")
        await until(lambda: names(orch.agents()) == ["reviewers-3", "reviewers-4"])
        assert sorted(orch.pools["reviewers"].agents) == sorted(a.id for a in orch.agents())


async def test_scaling_plugin_resizes_the_pool_within_its_bounds() -> None:
    rec, first, second = EventRecorder(), Scaler("abstains"), Scaler("autoscale", desired=10)
    async with orchestrator(pool_config(min=1, max=3), rec, first, second) as orch:
        assert len(orch.agents()) == 3  # the first reconcile already asked the plugins
        scaled = [e.data for e in rec.events if e.type == "pool.scaled"]
        assert scaled == [
            {"pool": "reviewers", "from": 1, "to": 3, "proposed": 10, "by": "autoscale"}
        ]
        assert first.calls >= 1
        assert second.seen[0].agents == 0  # asked before the first agent started

        second.desired = 0
        await until(lambda: len(orch.agents()) == 1)
        scaled = [e.data for e in rec.events if e.type == "pool.scaled"]
        assert scaled[-1] == {
            "pool": "reviewers",
            "from": 3,
            "to": 1,
            "proposed": 0,
            "by": "autoscale",
        }
        assert orch.pools["reviewers"].desired == 1
        assert set(stopped(rec).values()) == {"scaled down"}

        first.desired = 2
        await until(lambda: len(orch.agents()) == 2)
        assert [e.data["by"] for e in rec.events if e.type == "pool.scaled"][-1] == "abstains"
        asked, first_asked = second.calls, first.calls
        await until(lambda: first.calls > first_asked + 3)
        assert second.calls == asked  # the first answer wins: the next plugin is not asked


async def test_a_resize_beyond_max_pool_size_is_refused_and_changes_nothing() -> None:
    config = pool_config(min=1, max=3)
    config["orchestrator"] = {"max_pool_size": 5}
    async with orchestrator(config) as orch:
        for size, key in ((PoolSize(6, None), "min"), (PoolSize(1, 10**9), "max")):
            with pytest.raises(FieldError, match=f"^{key}: expected at most max_pool_size"):
                await orch.resize("reviewers", size)
        assert orch.pools["reviewers"].size == PoolSize(1, 3)
        await orch.resize("reviewers", PoolSize(1, 5))


async def test_scale_down_removes_only_idle_agents_and_loses_no_work() -> None:
    rec, gate, scaler = EventRecorder(), Gate(), Scaler("autoscale", desired=3)
    config = pool_config(gate, min=1, max=3)
    config["pools"][0]["capacity"] = 1
    async with orchestrator(config, rec, scaler) as orch:
        assert len(orch.agents()) == 3
        handles = [await orch.submit(TaskSpec("review", payload=i)) for i in range(2)]
        busy = {h.task.agent_id for h in handles}
        assert len(busy) == 2

        scaler.desired = 1
        await until(lambda: len(orch.agents()) == 2)
        assert {a.id for a in orch.agents()} == busy
        calls = scaler.calls
        await until(lambda: scaler.calls >= calls + 3)
        assert {a.id for a in orch.agents()} == busy  # busy agents stay while their work runs
        assert all(not h.done() for h in handles)

        gate.open()
        outcomes = await asyncio.gather(*(h.result(timeout=5) for h in handles))
        assert [(o.state, o.attempts) for o in outcomes] == [(TaskState.SUCCEEDED, 1)] * 2
        await until(lambda: len(orch.agents()) == 1)
        reasons = stopped(rec)
        assert len(reasons) == 2
        assert set(reasons.values()) == {"scaled down"}

        def seq(event_type: str, **match: str | None) -> int:
            found: list[Event] = [
                e
                for e in rec.events
                if e.type == event_type and all(getattr(e, k) == v for k, v in match.items())
            ]
            return found[0].seq

        for handle in handles:
            if handle.task.agent_id in reasons:
                finished = seq("task.succeeded", task_id=handle.id)
                assert finished < seq("agent.stopped", agent_id=handle.task.agent_id)
