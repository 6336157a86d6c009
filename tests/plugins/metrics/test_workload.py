"""A known workload on a real orchestrator, scraped over HTTP: every value is exact."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import alveary
import prometheus_client
from alveary import AgentSpec, Orchestrator, TaskSpec, TaskState
from alveary.testing import until

from .conftest import config, echo, metrics_of, scrape

N, M, K = 7, 3, 4
"""Successes, permanent failures, tasks that fail once and then succeed."""


class Workload:
    """A handler for every kind of the workload; ``flaky`` fails each task's first try."""

    def __init__(self) -> None:
        self.tries: Counter[str] = Counter()

    async def run(self, task: alveary.Task) -> Any:
        self.tries[task.id] += 1
        if task.kind == "bad":
            raise alveary.PermanentFailure("bad on purpose")
        if task.kind == "flaky" and self.tries[task.id] == 1:
            raise RuntimeError("flaky on purpose")
        if task.kind == "slow":
            await asyncio.Event().wait()
        return task.payload


class FailsOnBad:
    """A plugin whose ``alveary_task_after`` raises for kind ``bad`` only."""

    name = "fails-on-bad"

    @alveary.hookimpl
    def alveary_task_after(self, task: alveary.Task) -> None:
        if task.kind == "bad":
            raise ValueError("cannot judge")


async def test_a_known_workload_is_counted_exactly() -> None:
    work = Workload()
    async with Orchestrator.from_config(config(), [FailsOnBad()]) as orch:
        await orch.register(AgentSpec("w", {"w"}, capacity=4, options={"handler": work.run}))
        specs = (
            [TaskSpec("ok", requires={"w"}) for _ in range(N)]
            + [TaskSpec("bad", requires={"w"}) for _ in range(M)]
            + [TaskSpec("flaky", requires={"w"}, max_attempts=2) for _ in range(K)]
            + [TaskSpec("slow", requires={"w"}, timeout=0.2, max_attempts=1)]
        )
        handles = [await orch.submit(spec) for spec in specs]
        outcomes = [await h.result(timeout=60) for h in handles]
        assert Counter(o.state for o in outcomes) == {
            TaskState.SUCCEEDED: N + K,
            TaskState.FAILED: M,
            TaskState.DEAD: 1,
        }
        got = await scrape(metrics_of(orch).url)

    for kind, n in {"ok": N, "bad": M, "flaky": K, "slow": 1}.items():
        assert got.value("alveary_tasks_submitted_total", kind=kind) == n
        assert got.value("alveary_task_duration_seconds_count", kind=kind) == n
    assert got.value("alveary_tasks_finished_total", kind="ok", state="succeeded") == N
    assert got.value("alveary_tasks_finished_total", kind="bad", state="failed") == M
    assert got.value("alveary_tasks_finished_total", kind="flaky", state="succeeded") == K
    assert got.value("alveary_tasks_finished_total", kind="slow", state="dead") == 1
    assert got.total("alveary_tasks_finished_total") == N + M + K + 1
    assert got.value("alveary_task_retries_total", kind="flaky") == K
    assert got.total("alveary_task_retries_total") == K
    assert got.value("alveary_task_timeouts_total", kind="slow") == 1
    assert got.total("alveary_task_timeouts_total") == 1
    # one queue wait per attempt placed: the flaky tasks were placed twice
    assert got.value("alveary_task_queue_wait_seconds_count", kind="flaky") == 2 * K
    assert got.total("alveary_task_queue_wait_seconds_count") == N + M + 2 * K + 1
    # cumulative buckets, ending with +Inf at the count
    buckets = [
        v
        for k, v in got.samples["alveary_task_duration_seconds_bucket"].items()
        if ("kind", "ok") in k
    ]
    assert buckets == sorted(buckets)
    assert max(buckets) == N
    assert got.value("alveary_task_duration_seconds_bucket", kind="slow", le="0.1") == 0
    assert got.value("alveary_task_duration_seconds_sum", kind="slow") >= 0.2
    assert got.value("alveary_events_total", type="task.succeeded") == N + K
    assert got.value("alveary_events_total", type="task.dead") == 1
    assert got.value("alveary_plugin_failures_total", plugin="fails-on-bad") == M
    assert got.value("alveary_agents", pool="", state="ready") == 1
    assert got.value("alveary_agent_capacity", agent="w", pool="") == 4
    assert got.value("alveary_agent_in_flight", agent="w", pool="") == 0
    for priority in ("low", "medium", "high", "critical"):
        assert got.value("alveary_queue_depth", priority=priority) == 0
        assert got.value("alveary_queue_oldest_wait_seconds", priority=priority) == 0
    assert got.value("alveary_tasks", state="running") == 0
    assert "process_resident_memory_bytes" in got.samples or "python_info" in got.samples


async def test_queue_depth_and_oldest_wait_by_priority() -> None:
    async with Orchestrator.from_config(config()) as orch:
        await orch.submit(TaskSpec("waits", requires={"nobody"}, priority="high"))
        await orch.submit(TaskSpec("waits", requires={"nobody"}, priority="high"))
        held = await orch.submit(TaskSpec("waits", requires={"nobody"}, priority="low"))
        await asyncio.sleep(0.05)
        got = await scrape(metrics_of(orch).url)
        assert got.value("alveary_queue_depth", priority="high") == 2
        assert got.value("alveary_queue_depth", priority="low") == 1
        assert got.value("alveary_queue_depth", priority="medium") == 0
        assert got.value("alveary_queue_oldest_wait_seconds", priority="high") > 0
        assert got.value("alveary_tasks", state="queued") == 3
        await orch.cancel(held.id)
        await orch.register(AgentSpec("late", {"nobody"}, capacity=8, options={"handler": echo}))
        await until(lambda: orch.metrics().tasks.get("succeeded", 0) == 2, timeout=30)
        got = await scrape(metrics_of(orch).url)
    assert got.total("alveary_queue_depth") == 0
    assert got.value("alveary_tasks_finished_total", kind="waits", state="cancelled") == 1
    assert got.value("alveary_task_queue_wait_seconds_count", kind="waits") == 2
    assert got.value("alveary_task_queue_wait_seconds_sum", kind="waits") > 0


class Scaler:
    """Asks for two agents in every pool."""

    name = "scaler"

    @alveary.hookimpl
    def alveary_scale(self) -> int:
        return 2


async def test_pools_and_scaling_decisions() -> None:
    settings = config()
    settings["orchestrator"]["tick_interval"] = 0.05
    settings["pools"] = [
        {
            "name": "echoes",
            "capabilities": ["echo"],
            "size": {"min": 1, "max": 3},
            "options": {"handler": "alveary.testing:echo"},
        }
    ]
    async with Orchestrator.from_config(settings, [Scaler()]) as orch:
        await until(lambda: len(orch.pools["echoes"].agents) == 2, timeout=30)
        got = await scrape(metrics_of(orch).url)
    assert got.value("alveary_pool_desired", pool="echoes") == 2
    assert got.value("alveary_pool_min", pool="echoes") == 1
    assert got.value("alveary_pool_max", pool="echoes") == 3
    assert got.value("alveary_pool_agents", pool="echoes") == 2
    assert got.value("alveary_pool_queued", pool="echoes") == 0
    assert got.value("alveary_pool_scaled_total", pool="echoes", direction="up", by="scaler") == 1
    assert got.total("alveary_agents", pool="echoes") == 2


class Ticker:
    """A plugin whose tick always raises, to be disabled."""

    name = "ticker"

    @alveary.hookimpl
    def alveary_tick(self) -> None:
        raise RuntimeError("tick broke")


async def test_failing_plugins_are_counted_and_a_disabled_one_shows() -> None:
    settings = config()
    settings["orchestrator"].update(tick_interval=0.02, max_failures=3)
    async with Orchestrator.from_config(settings, [Ticker()]) as orch:
        await until(lambda: "ticker" in orch.metrics().disabled_plugins, timeout=30)
        got = await scrape(metrics_of(orch).url)
    assert got.value("alveary_plugin_failures_total", plugin="ticker") == 3
    assert got.value("alveary_plugin_disabled", plugin="ticker") == 1
    assert got.value("alveary_events_total", type="plugin.disabled") == 1


async def test_two_orchestrators_in_one_process_report_apart() -> None:
    async with (
        Orchestrator.from_config(config()) as one,
        Orchestrator.from_config(config()) as two,
    ):
        for orch, n in ((one, 3), (two, 5)):
            await orch.register(AgentSpec("a", {"e"}, options={"handler": echo}))
            for _ in range(n):
                await (await orch.submit(TaskSpec("same", requires={"e"}))).result(timeout=30)
        first = await scrape(metrics_of(one).url)
        second = await scrape(metrics_of(two).url)
    assert metrics_of(one).registry is not metrics_of(two).registry
    assert first.value("alveary_tasks_submitted_total", kind="same") == 3
    assert second.value("alveary_tasks_submitted_total", kind="same") == 5
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("alveary") for name in global_names)
