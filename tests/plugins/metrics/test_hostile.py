"""Hostile workloads: unbounded kinds and event types, kinds no label should hold, scrapes
in the middle of heavy dispatch."""

from __future__ import annotations

import asyncio

from alveary import AgentSpec, Orchestrator, TaskSpec
from alveary.testing import until

from .conftest import config, echo, metrics_of, scrape


async def test_ten_thousand_kinds_stay_bounded() -> None:
    async with Orchestrator.from_config(config(max_kinds=100, max_event_types=20)) as orch:
        await orch.register(AgentSpec("a", {"e"}, capacity=200, options={"handler": echo}))
        handles = [await orch.submit(TaskSpec(f"k{i}", requires={"e"})) for i in range(10_000)]
        for handle in handles:
            await handle.result(timeout=60)
        for i in range(50):
            orch.emit(f"noise.{i}")
        got = await scrape(metrics_of(orch).url)
    kinds = got.labels("alveary_tasks_submitted_total", "kind")
    assert len(kinds) == 101
    assert "other" in kinds
    assert got.value("alveary_tasks_submitted_total", kind="other") == 9_900
    assert got.total("alveary_tasks_submitted_total") == 10_000
    assert got.total("alveary_tasks_finished_total", state="succeeded") == 10_000
    assert got.value("alveary_task_duration_seconds_count", kind="other") == 9_900
    types = got.labels("alveary_events_total", "type")
    assert len(types) == 21
    noise = sum(got.value("alveary_events_total", type=t) for t in types if t.startswith("noise."))
    assert noise + got.value("alveary_events_total", type="other") == 50
    assert len(metrics_of(orch).tally.live) == 0


async def test_many_agents_only_the_first_get_series_of_their_own() -> None:
    async with Orchestrator.from_config(config(max_agents=3)) as orch:
        for i in range(10):
            await orch.register(AgentSpec(f"agent-{i}", {"e"}, options={"handler": echo}))
        got = await scrape(metrics_of(orch).url)
    assert got.labels("alveary_agent_in_flight", "agent") == {"agent-0", "agent-1", "agent-2"}
    assert got.value("alveary_agents", pool="", state="ready") == 10


ODD = [
    'say "hi"',
    "back\\slash\\n",
    "ünïcødé ✓ 工作",
    "$(rm -rf /)",
    "--leading-dashes",
    "nan",
    "}{,=",
    " padded ",
]


async def test_kinds_no_label_should_hold_are_escaped_and_read_back() -> None:
    async with Orchestrator.from_config(config()) as orch:
        await orch.register(AgentSpec("a", {"e"}, capacity=4, options={"handler": echo}))
        for kind in ODD:
            await (await orch.submit(TaskSpec(kind, requires={"e"}))).result(timeout=30)
        got = await scrape(metrics_of(orch).url)
    assert got.labels("alveary_tasks_submitted_total", "kind") == set(ODD)
    for kind in ODD:
        assert got.value("alveary_tasks_finished_total", kind=kind, state="succeeded") == 1
    assert '"back\\\\slash\\\\n"' in got.text
    assert 'say \\"hi\\"' in got.text


async def test_scrapes_during_heavy_dispatch_all_succeed_and_end_exact() -> None:
    tasks, batches = 20_000, 40
    async with Orchestrator.from_config(config()) as orch:
        for i in range(8):
            await orch.register(AgentSpec(f"a{i}", {"e"}, capacity=50, options={"handler": echo}))
        url = metrics_of(orch).url

        async def load() -> None:
            per_batch = tasks // batches
            for b in range(batches):
                handles = [
                    await orch.submit(TaskSpec(f"kind-{i % 7}", requires={"e"}, priority=i % 4))
                    for i in range(per_batch)
                ]
                if b % 2:
                    for handle in handles:
                        await handle.result(timeout=60)
                await asyncio.sleep(0)

        loader = asyncio.create_task(load())
        scrapes = 0
        while not loader.done():
            got = await scrape(url)
            assert got.total("alveary_tasks_submitted_total") <= tasks
            scrapes += 1
        await loader
        await until(lambda: orch.metrics().tasks.get("succeeded", 0) == tasks, timeout=60)
        got = await scrape(url)
    assert scrapes >= 1
    assert got.total("alveary_tasks_submitted_total") == tasks
    assert got.total("alveary_tasks_finished_total", state="succeeded") == tasks
    assert got.total("alveary_queue_depth") == 0
    assert got.total("alveary_task_queue_wait_seconds_count") == tasks
